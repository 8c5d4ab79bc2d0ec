"""factory_boy factories for the royalties tests (catalog, generation and release rows they need)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from factory.declarations import LazyAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory

from catalog.models import Recording, RecordingShare, RightsHolder
from distribution.models import Release
from generation.models import Generation
from uploads.models import UploadSet


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = Sequence(lambda n: f"user{n}")
    email = LazyAttribute(lambda o: f"{o.username}@example.com")


class RightsHolderFactory(DjangoModelFactory):
    class Meta:
        model = RightsHolder

    name = Sequence(lambda n: f"Holder {n}")
    kind = RightsHolder.Kind.LABEL


class RecordingFactory(DjangoModelFactory):
    class Meta:
        model = Recording

    external_id = Sequence(lambda n: f"rec-{n}")
    title = Sequence(lambda n: f"Song {n}")
    artist = "Artist"


class RecordingShareFactory(DjangoModelFactory):
    class Meta:
        model = RecordingShare

    recording = SubFactory(RecordingFactory)
    holder = SubFactory(RightsHolderFactory)
    side = RecordingShare.Side.MASTER
    share_bps = 10_000


class UploadSetFactory(DjangoModelFactory):
    class Meta:
        model = UploadSet

    owner = SubFactory(UserFactory)


class GenerationFactory(DjangoModelFactory):
    class Meta:
        model = Generation

    upload_set = SubFactory(UploadSetFactory)
    status = Generation.Status.SUCCEEDED


class ReleaseFactory(DjangoModelFactory):
    class Meta:
        model = Release

    generation = SubFactory(GenerationFactory)
    title = Sequence(lambda n: f"Release {n}")
    artist_name = "SongForge Artist"
    isrc = Sequence(lambda n: f"QZS8F26{n:05d}")
