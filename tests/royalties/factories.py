"""factory_boy factories for the royalties tests (catalog, generation and release rows they need)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from catalog.models import Recording, RecordingShare, RightsHolder
from distribution.models import Release
from generation.models import Generation, UploadSet


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class RightsHolderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RightsHolder

    name = factory.Sequence(lambda n: f"Holder {n}")
    kind = RightsHolder.Kind.LABEL


class RecordingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recording

    external_id = factory.Sequence(lambda n: f"rec-{n}")
    title = factory.Sequence(lambda n: f"Song {n}")
    artist = "Artist"


class RecordingShareFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecordingShare

    recording = factory.SubFactory(RecordingFactory)
    holder = factory.SubFactory(RightsHolderFactory)
    side = RecordingShare.Side.MASTER
    share_bps = 10_000


class UploadSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UploadSet

    owner = factory.SubFactory(UserFactory)


class GenerationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Generation

    upload_set = factory.SubFactory(UploadSetFactory)
    status = Generation.Status.SUCCEEDED


class ReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Release

    generation = factory.SubFactory(GenerationFactory)
    title = factory.Sequence(lambda n: f"Release {n}")
    artist_name = "SongForge Artist"
    isrc = factory.Sequence(lambda n: f"QZS8F26{n:05d}")
