import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from distribution import selectors
from distribution.clients import ern
from distribution.clients.base import DistributorError, ReleasePackage
from distribution.clients.outbox import OutboxDistributor
from distribution.models import Release
from distribution.services import publish

NS = {"ern": ern.ERN_NAMESPACE}


@pytest.fixture
def release(song, publish_fields):
    return publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )


def package_of(release: Release) -> ReleasePackage:
    return selectors.release_package(release=Release.objects.get(pk=release.pk))


@pytest.mark.django_db
def test_it_writes_a_complete_checked_package(release, settings):
    result = OutboxDistributor().deliver(package_of(release))
    folder = Path(settings.OUTBOX_DIR) / release.isrc
    assert result.location == str(folder)
    assert result.status == "submitted"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
        f"{release.isrc}.xml",
        "resources",
        f"resources/{release.isrc}.wav",
        f"resources/{release.isrc}_cover.jpg",
        "split_sheet.json",
    ]
    with release.generation.master_wav.open("rb") as master:
        assert (folder / "resources" / f"{release.isrc}.wav").read_bytes() == master.read()
    with release.artwork.open("rb") as artwork:
        assert (folder / "resources" / f"{release.isrc}_cover.jpg").read_bytes() == artwork.read()

    root = ET.parse(folder / f"{release.isrc}.xml").getroot()  # noqa: S314 - our own file
    assert ern.check_new_release_message(root) == []
    recording = root.find("ResourceList/SoundRecording")
    assert recording is not None
    assert recording.findtext("ResourceId/ISRC") == release.isrc
    assert recording.findtext("DisplayTitleText") == "Night Drive"
    assert recording.findtext("DisplayArtistName") == "Ada Vale"
    assert recording.findtext("Duration") == "PT0.500S"
    assert "SongForge's generative model" in (recording.findtext("DisplayCredits/DisplayCreditText") or "")
    assert root.findtext("ReleaseList/Release/Keywords") == "AI-generated"
    assert root.findtext("DealList/ReleaseDeal/Deal/DealTerms/TakeDown") is None

    sheet = json.loads((folder / "split_sheet.json").read_text())
    assert sheet["total_ppb"] == 1_000_000_000
    assert sum(line["share_ppb"] for line in sheet["lines"]) == 1_000_000_000
    controllers = {
        c.findtext("RightsControllerPartyReference"): c.findtext("RightSharePercentage")
        for c in recording.iterfind("ResourceRightsController")
    }
    assert controllers == {f"PHolder{line['holder_id']}": line["share_percent"] for line in sheet["lines"]}
    assert [p for p in Path(settings.OUTBOX_DIR).iterdir() if p.name.startswith(".")] == []


@pytest.mark.django_db
def test_delivering_again_changes_nothing(release, settings):
    OutboxDistributor().deliver(package_of(release))
    folder = Path(settings.OUTBOX_DIR) / release.isrc
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    second = OutboxDistributor().deliver(package_of(release))
    assert second.detail == "already in outbox"
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    assert sorted(p.name for p in Path(settings.OUTBOX_DIR).iterdir()) == [release.isrc]


@pytest.mark.django_db
def test_a_failed_write_leaves_no_folder(release, settings):
    package = package_of(release)

    def broken_audio():
        raise OSError("disk gone")

    broken = type(package)(**{**package.__dict__, "open_audio": broken_audio})
    with pytest.raises(OSError, match="disk gone"):
        OutboxDistributor().deliver(broken)
    assert list(Path(settings.OUTBOX_DIR).iterdir()) == []


@pytest.mark.django_db
def test_takedown_writes_a_takedown_deal(release, settings):
    distributor = OutboxDistributor()
    distributor.deliver(package_of(release))
    result = distributor.takedown(package_of(release))
    folder = Path(settings.OUTBOX_DIR) / f"{release.isrc}_takedown"
    assert result.location == str(folder)
    root = ET.parse(folder / f"{release.isrc}.xml").getroot()  # noqa: S314 - our own file
    assert ern.check_new_release_message(root) == []
    assert root.findtext("DealList/ReleaseDeal/Deal/DealTerms/TakeDown") == "true"
    assert root.find("DealList/ReleaseDeal/Deal/DealTerms/UseType") is None
    assert distributor.status(package_of(release)).status == "taken_down"


@pytest.mark.django_db
def test_status_needs_a_delivered_package(release):
    with pytest.raises(DistributorError) as failure:
        OutboxDistributor().status(package_of(release))
    assert failure.value.permanent is True


@pytest.fixture
def message(release):
    return ern.build_new_release_message(
        package_of(release),
        message_id="m1",
        created_at=release.created_at,
        recipient_party_id="PADPIDA0000000000X",
        recipient_name="Test",
    )


@pytest.mark.django_db
def test_the_checker_accepts_what_the_builder_writes(message):
    parsed = ET.fromstring(ern.to_bytes(message))  # noqa: S314 - our own bytes
    assert ern.check_new_release_message(parsed) == []


@pytest.mark.django_db
def test_the_checker_finds_a_bad_isrc_and_duration(message):
    message.find("ResourceList/SoundRecording/ResourceId/ISRC").text = "QZ-S8F-26-1"
    message.find("ResourceList/SoundRecording/Duration").text = "3:12"
    problems = ern.check_new_release_message(message)
    assert any("is not an ISRC" in p for p in problems)
    assert any("ISO 8601 duration" in p for p in problems)


@pytest.mark.django_db
def test_the_checker_finds_missing_and_misordered_elements(message):
    recording = message.find("ResourceList/SoundRecording")
    recording.remove(recording.find("Duration"))
    header = message.find("MessageHeader")
    message_id = header.find("MessageId")
    header.remove(message_id)
    header.append(message_id)
    problems = ern.check_new_release_message(message)
    assert "NewReleaseMessage/ResourceList/SoundRecording: missing required Duration" in problems
    assert any(p.startswith("NewReleaseMessage/MessageHeader: MessageId is out of order") for p in problems)


@pytest.mark.django_db
def test_the_checker_finds_wrong_namespace_avs_values_references_and_shares(message):
    message.find("ResourceList/SoundRecording/Type").text = "Song"
    controller = message.find("ResourceList/SoundRecording/ResourceRightsController")
    controller.find("RightSharePercentage").text = "1.5"
    controller.find("RightsControllerPartyReference").text = "PNobody"
    problems = ern.check_new_release_message(message)
    assert any("'Song' is not an allowed value" in p for p in problems)
    assert any("'PNobody' does not name a Party" in p for p in problems)
    assert any("not exactly 100%" in p for p in problems)
    wrong = ET.Element("{http://ddex.net/xml/ern/42}NewReleaseMessage")
    assert "expected" in ern.check_new_release_message(wrong)[0]


def test_durations_and_percentages_are_exact():
    assert ern.iso_duration(192_500) == "PT3M12.500S"
    assert ern.iso_duration(3_600_000) == "PT1H0M0S"
    assert ern.iso_duration(5_000) == "PT5S"
    assert ern.share_percentage(1_000_000_000) == "100.0000000"
    assert ern.share_percentage(123_456_789) == "12.3456789"
