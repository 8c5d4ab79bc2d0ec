"""Shared factory_boy factories: users, rights holders, recordings with their shares, releases, statements.

Each factory builds a valid row with the fewest fields; tests pass what their story is about. Rights come through
``RecordingShareFactory`` or ``RecordingWithSharesFactory`` (one holder owning 100% of both sides).
"""

from __future__ import annotations

import hashlib

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db.models import Model
from factory.declarations import LazyAttribute, LazyFunction, RelatedFactory, SelfAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory

from catalog.models import Recording, RecordingShare, RightsHolder
from distribution.models import Release
from generation.models import Generation
from royalties.models import Statement


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = Sequence(lambda n: f"user{n}")
    email = LazyAttribute(lambda o: f"{o.username}@example.com")
    password = LazyFunction(lambda: make_password(None))  # unusable: tests log in with force_login


class RightsHolderFactory(DjangoModelFactory[RightsHolder]):
    class Meta:
        model = RightsHolder

    name = Sequence(lambda n: f"Holder {n}")
    kind = RightsHolder.Kind.LABEL


class RecordingFactory(DjangoModelFactory[Recording]):
    """A catalog recording with no rights: add them with ``RecordingShareFactory``."""

    class Meta:
        model = Recording

    external_id = Sequence(lambda n: f"rec-{n}")
    title = Sequence(lambda n: f"Song {n}")
    artist = "Artist"


class RecordingShareFactory(DjangoModelFactory[RecordingShare]):
    class Meta:
        model = RecordingShare

    recording = SubFactory(RecordingFactory)
    holder = SubFactory(RightsHolderFactory)
    side = RecordingShare.Side.MASTER
    share_bps = 10_000


class RecordingWithSharesFactory(RecordingFactory):
    """A recording whose ``holder`` (a new label unless given) owns 100% of the master and the publishing side."""

    class Meta:
        skip_postgeneration_save = True

    class Params:
        holder = SubFactory(RightsHolderFactory)

    master = RelatedFactory(
        RecordingShareFactory,
        factory_related_name="recording",
        holder=SelfAttribute("..holder"),
        side=RecordingShare.Side.MASTER,
    )
    publishing = RelatedFactory(
        RecordingShareFactory,
        factory_related_name="recording",
        holder=SelfAttribute("..holder"),
        side=RecordingShare.Side.PUBLISHING,
    )


class _UploadSetFactory(DjangoModelFactory[Model]):
    """The upload set a generation needs; its model is read from ``Generation.upload_set`` so the factory follows
    the model wherever it lives. Not for tests of uploads themselves: use the uploads services there."""

    class Meta:
        model = Generation._meta.get_field("upload_set").related_model

    owner = SubFactory(UserFactory)


class GenerationFactory(DjangoModelFactory[Generation]):
    """A succeeded generation whose originality guard passed (what a release is made from)."""

    class Meta:
        model = Generation

    upload_set = SubFactory(_UploadSetFactory)
    status = Generation.Status.SUCCEEDED
    is_original = True


class ReleaseFactory(DjangoModelFactory[Release]):
    """A release of a succeeded generation, delivered through the DDEX outbox unless ``distributor`` says otherwise."""

    class Meta:
        model = Release

    generation = SubFactory(GenerationFactory)
    title = Sequence(lambda n: f"Release {n}")
    artist_name = "SongForge Artist"
    isrc = Sequence(lambda n: f"QZS8F26{n:05d}")
    distributor = Release.Distributor.OUTBOX


class StatementFactory(DjangoModelFactory[Statement]):
    """An imported statement's header row (no line groups, no ledger entries): for tests of who sees what."""

    class Meta:
        model = Statement

    reference = Sequence(lambda n: f"statement-{n}.csv")
    sha256 = LazyAttribute(lambda o: hashlib.sha256(o.reference.encode()).hexdigest())
    line_count = 0
