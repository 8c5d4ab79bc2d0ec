"""DDEX ERN 4.3 NewReleaseMessage: the builder and a structural checker.

We write the subset of ERN 4.3 that a single-track audio release needs, in the
element order of the 4.3 schema (``ELEMENT_ORDER`` below lists, per parent, the
children we emit with their bounds). The official XSD is not downloaded at run
time, so ``check_new_release_message`` re-checks what the schema would:
namespace and root, required children present and in order, Allowed Value Set
(AVS) values, ISRC and ISO 8601 formats, references that resolve, and our own
rule that the rights controllers' shares sum to exactly 100%.

ERN 4.3 has no dedicated AI-generation element; the disclosure travels as the
SoundRecording's ``DisplayCredits/DisplayCreditText`` (shown to listeners by
stores that display credits) and as a Release ``Keywords`` entry "AI-generated"
plus the full text in the Release ``MarketingComment``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from fractions import Fraction

from distribution.clients.base import ReleasePackage
from songforge.codes import ISRC_RE

ERN_NAMESPACE = "http://ddex.net/xml/ern/43"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{ERN_NAMESPACE} http://ddex.net/xml/ern/43/release-notification.xsd"
AVS_VERSION = "4"
SENDER_PARTY_ID = "PADPIDA2026112601S"  # placeholder DPID until SongForge registers one with DDEX

DURATION_PATTERN = re.compile(r"^PT(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PERCENT_PATTERN = re.compile(r"^\d{1,3}(\.\d{1,10})?$")

# Allowed Value Sets for the elements we emit (a subset of the ERN 4.3 AVS).
AVS: dict[str, frozenset[str]] = {
    "MessageControlType": frozenset({"LiveMessage", "TestMessage"}),
    "SoundRecording/Type": frozenset({"MusicalWorkSoundRecording", "NonMusicalWorkSoundRecording"}),
    "Image/Type": frozenset({"FrontCoverImage", "VideoScreenCapture", "Photograph"}),
    "ReleaseType": frozenset({"Single", "TrackRelease", "Album", "EP"}),
    "DisplayArtistRole": frozenset({"MainArtist", "FeaturedArtist", "Artist"}),
    "RightsControlType": frozenset({"RightsController", "RoyaltyAdministrator", "LocalPayee"}),
    "ParentalWarningType": frozenset({"Explicit", "NotExplicit", "NoAdviceAvailable", "Unknown"}),
    "CommercialModelType": frozenset({"PayAsYouGoModel", "SubscriptionModel", "AdvertisementSupportedModel"}),
    "UseType": frozenset({"PermanentDownload", "OnDemandStream", "NonInteractiveStream", "Stream"}),
    "DeliveryFile/Type": frozenset({"AudioFile", "ImageFile"}),
    "HashSum/Algorithm": frozenset({"MD5", "SHA1", "SHA256"}),
    "TakeDown": frozenset({"true", "false"}),
}

# parent -> ordered children (name, minimum, maximum); None = unbounded.
Spec = tuple[tuple[str, int, int | None], ...]
ELEMENT_ORDER: dict[str, Spec] = {
    "NewReleaseMessage": (
        ("MessageHeader", 1, 1),
        ("PartyList", 1, 1),
        ("ResourceList", 1, 1),
        ("ReleaseList", 1, 1),
        ("DealList", 1, 1),
    ),
    "MessageHeader": (
        ("MessageThreadId", 0, 1),
        ("MessageId", 1, 1),
        ("MessageSender", 1, 1),
        ("MessageRecipient", 1, None),
        ("MessageCreatedDateTime", 1, 1),
        ("MessageControlType", 0, 1),
    ),
    "MessageSender": (("PartyId", 1, None), ("PartyName", 0, 1)),
    "MessageRecipient": (("PartyId", 1, None), ("PartyName", 0, 1)),
    "PartyName": (("FullName", 1, 1),),
    "PartyList": (("Party", 1, None),),
    "Party": (("PartyReference", 1, 1), ("PartyName", 1, None)),
    "ResourceList": (("SoundRecording", 1, None), ("Image", 0, None)),
    "SoundRecording": (
        ("ResourceReference", 1, 1),
        ("Type", 1, 1),
        ("ResourceId", 1, None),
        ("DisplayTitleText", 1, None),
        ("DisplayTitle", 1, None),
        ("DisplayArtistName", 1, None),
        ("DisplayArtist", 1, None),
        ("ResourceRightsController", 1, None),
        ("PLine", 0, None),
        ("Duration", 1, 1),
        ("ParentalWarningType", 1, None),
        ("DisplayCredits", 0, None),
        ("LanguageOfPerformance", 0, None),
        ("TechnicalDetails", 0, None),
    ),
    "SoundRecording/ResourceId": (("ISRC", 1, 1),),
    "Image": (
        ("ResourceReference", 1, 1),
        ("Type", 1, 1),
        ("ResourceId", 1, None),
        ("ParentalWarningType", 0, None),
        ("TechnicalDetails", 0, None),
    ),
    "Image/ResourceId": (("ProprietaryId", 1, None),),
    "DisplayTitle": (("TitleText", 1, 1),),
    "DisplayArtist": (("ArtistPartyReference", 1, 1), ("DisplayArtistRole", 1, 1)),
    "ResourceRightsController": (
        ("RightsControllerPartyReference", 1, 1),
        ("RightsControlType", 1, None),
        ("RightSharePercentage", 1, 1),
    ),
    "PLine": (("Year", 0, 1), ("PLineText", 1, 1)),
    "DisplayCredits": (("DisplayCreditText", 1, 1), ("DisplayCreditParty", 0, None)),
    "TechnicalDetails": (
        ("TechnicalResourceDetailsReference", 1, 1),
        ("DeliveryFile", 1, None),
    ),
    "DeliveryFile": (("Type", 1, 1), ("File", 1, 1)),
    "File": (("URI", 1, 1), ("HashSum", 0, 1)),
    "HashSum": (("Algorithm", 1, 1), ("HashSumValue", 1, 1)),
    "ReleaseList": (("Release", 1, 1),),
    "Release": (
        ("ReleaseReference", 1, 1),
        ("ReleaseType", 1, None),
        ("ReleaseId", 1, 1),
        ("DisplayTitleText", 1, None),
        ("DisplayTitle", 1, None),
        ("DisplayArtistName", 1, None),
        ("DisplayArtist", 1, None),
        ("ReleaseLabelReference", 1, None),
        ("PLine", 0, None),
        ("Duration", 0, 1),
        ("Genre", 1, None),
        ("ReleaseDate", 0, 1),
        ("ParentalWarningType", 1, None),
        ("ResourceGroup", 1, 1),
        ("Keywords", 0, None),
        ("MarketingComment", 0, None),
    ),
    "Release/ReleaseId": (("ProprietaryId", 1, None),),
    "Genre": (("GenreText", 1, 1),),
    "ResourceGroup": (("ResourceGroupContentItem", 1, None), ("LinkedReleaseResourceReference", 0, None)),
    "ResourceGroupContentItem": (("SequenceNumber", 1, 1), ("ReleaseResourceReference", 1, 1)),
    "DealList": (("ReleaseDeal", 1, None),),
    "ReleaseDeal": (("DealReleaseReference", 1, None), ("Deal", 1, None)),
    "Deal": (("DealTerms", 1, 1),),
    "DealTerms": (
        ("TerritoryCode", 1, None),
        ("ValidityPeriod", 1, 1),
        ("CommercialModelType", 0, None),
        ("UseType", 0, None),
        ("TakeDown", 0, 1),
    ),
    "ValidityPeriod": (("StartDate", 1, 1),),
}

# Elements whose text must be non-empty.
NON_EMPTY = frozenset(
    {
        "MessageId",
        "PartyId",
        "FullName",
        "PartyReference",
        "ResourceReference",
        "DisplayTitleText",
        "TitleText",
        "DisplayArtistName",
        "ReleaseReference",
        "ProprietaryId",
        "URI",
        "GenreText",
        "TerritoryCode",
    }
)


def share_percentage(ppb: int) -> str:
    """Parts per billion as an exact decimal percentage (1 % = 10,000,000 ppb)."""
    whole, rest = divmod(ppb, 10_000_000)
    return f"{whole}.{rest:07d}"


def iso_duration(duration_ms: int) -> str:
    """Milliseconds as an ISO 8601 duration, e.g. 192_500 -> 'PT3M12.500S'."""
    minutes, rest_ms = divmod(duration_ms, 60_000)
    hours, minutes = divmod(minutes, 60)
    seconds, millis = divmod(rest_ms, 1000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if hours or minutes:
        text += f"{minutes}M"
    text += f"{seconds}.{millis:03d}S" if millis else f"{seconds}S"
    return text


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _party_name(parent: ET.Element, name: str) -> None:
    _sub(_sub(parent, "PartyName"), "FullName", name)


def build_new_release_message(
    package: ReleasePackage,
    *,
    message_id: str,
    created_at: datetime,
    recipient_party_id: str,
    recipient_name: str,
    takedown: bool = False,
    is_test: bool = False,
) -> ET.Element:
    """The NewReleaseMessage for ``package``; with ``takedown`` its deal takes the release down.

    ``created_at`` must be aware. Files are referenced relative to the package
    folder (``resources/<name>``).
    """
    ET.register_namespace("ern", ERN_NAMESPACE)
    ET.register_namespace("xsi", XSI_NAMESPACE)
    root = ET.Element(
        f"{{{ERN_NAMESPACE}}}NewReleaseMessage",
        {
            f"{{{XSI_NAMESPACE}}}schemaLocation": SCHEMA_LOCATION,
            "AvsVersionId": AVS_VERSION,
            "LanguageAndScriptCode": package.language or "en",
        },
    )
    header = _sub(root, "MessageHeader")
    _sub(header, "MessageThreadId", f"songforge-release-{package.release_id}")
    _sub(header, "MessageId", message_id)
    sender = _sub(header, "MessageSender")
    _sub(sender, "PartyId", SENDER_PARTY_ID)
    _party_name(sender, package.label_name)
    recipient = _sub(header, "MessageRecipient")
    _sub(recipient, "PartyId", recipient_party_id)
    _party_name(recipient, recipient_name)
    _sub(header, "MessageCreatedDateTime", created_at.isoformat(timespec="seconds"))
    _sub(header, "MessageControlType", "TestMessage" if is_test else "LiveMessage")

    parties = _sub(root, "PartyList")
    artist_party = _sub(parties, "Party")
    _sub(artist_party, "PartyReference", "PArtist")
    _party_name(artist_party, package.artist_name)
    label_party = _sub(parties, "Party")
    _sub(label_party, "PartyReference", "PLabel")
    _party_name(label_party, package.label_name)
    for line in package.splits:
        holder_party = _sub(parties, "Party")
        _sub(holder_party, "PartyReference", f"PHolder{line.holder_id}")
        _party_name(holder_party, line.holder_name)

    resources = _sub(root, "ResourceList")
    recording = _sub(resources, "SoundRecording")
    _sub(recording, "ResourceReference", "A1")
    _sub(recording, "Type", "MusicalWorkSoundRecording")
    _sub(_sub(recording, "ResourceId"), "ISRC", package.isrc)
    _sub(recording, "DisplayTitleText", package.title)
    _sub(_sub(recording, "DisplayTitle"), "TitleText", package.title)
    _sub(recording, "DisplayArtistName", package.artist_name)
    display_artist = _sub(recording, "DisplayArtist", SequenceNumber="1")
    _sub(display_artist, "ArtistPartyReference", "PArtist")
    _sub(display_artist, "DisplayArtistRole", "MainArtist")
    for line in package.splits:
        controller = _sub(recording, "ResourceRightsController")
        _sub(controller, "RightsControllerPartyReference", f"PHolder{line.holder_id}")
        _sub(controller, "RightsControlType", "RoyaltyAdministrator")
        _sub(controller, "RightSharePercentage", share_percentage(line.ppb))
    pline = _sub(recording, "PLine")
    _sub(pline, "Year", str(package.release_date.year))
    _sub(pline, "PLineText", f"(P) {package.release_date.year} {package.label_name}")
    _sub(recording, "Duration", iso_duration(package.duration_ms))
    _sub(recording, "ParentalWarningType", "NotExplicit")
    credits = _sub(recording, "DisplayCredits")
    _sub(credits, "DisplayCreditText", f"AI disclosure: {package.ai_disclosure}")
    _sub(credits, "DisplayCreditParty", "PArtist")
    if package.language:
        _sub(recording, "LanguageOfPerformance", package.language)
    _technical_details(recording, "T1", "AudioFile", package.audio_name, package.audio_sha256)

    image = _sub(resources, "Image")
    _sub(image, "ResourceReference", "A2")
    _sub(image, "Type", "FrontCoverImage")
    _sub(_sub(image, "ResourceId"), "ProprietaryId", f"{package.isrc}-cover", Namespace=f"DPID:{SENDER_PARTY_ID}")
    _technical_details(image, "T2", "ImageFile", package.artwork_name, None)

    release = _sub(_sub(root, "ReleaseList"), "Release")
    _sub(release, "ReleaseReference", "R0")
    _sub(release, "ReleaseType", "Single")
    _sub(
        _sub(release, "ReleaseId"),
        "ProprietaryId",
        f"songforge-{package.release_id}",
        Namespace=f"DPID:{SENDER_PARTY_ID}",
    )
    _sub(release, "DisplayTitleText", package.title)
    _sub(_sub(release, "DisplayTitle"), "TitleText", package.title)
    _sub(release, "DisplayArtistName", package.artist_name)
    release_artist = _sub(release, "DisplayArtist", SequenceNumber="1")
    _sub(release_artist, "ArtistPartyReference", "PArtist")
    _sub(release_artist, "DisplayArtistRole", "MainArtist")
    _sub(release, "ReleaseLabelReference", "PLabel")
    _sub(release, "Duration", iso_duration(package.duration_ms))
    _sub(_sub(release, "Genre"), "GenreText", package.genre or "Electronic")
    _sub(release, "ReleaseDate", package.release_date.isoformat())
    _sub(release, "ParentalWarningType", "NotExplicit")
    group = _sub(release, "ResourceGroup")
    item = _sub(group, "ResourceGroupContentItem")
    _sub(item, "SequenceNumber", "1")
    _sub(item, "ReleaseResourceReference", "A1")
    _sub(group, "LinkedReleaseResourceReference", "A2")
    _sub(release, "Keywords", "AI-generated")
    _sub(release, "MarketingComment", package.ai_disclosure)

    deal_list = _sub(root, "DealList")
    release_deal = _sub(deal_list, "ReleaseDeal")
    _sub(release_deal, "DealReleaseReference", "R0")
    terms = _sub(_sub(release_deal, "Deal"), "DealTerms")
    _sub(terms, "TerritoryCode", "Worldwide")
    start = created_at.date() if takedown else package.release_date
    _sub(_sub(terms, "ValidityPeriod"), "StartDate", start.isoformat())
    if takedown:
        _sub(terms, "TakeDown", "true")
    else:
        _sub(terms, "CommercialModelType", "SubscriptionModel")
        _sub(terms, "CommercialModelType", "PayAsYouGoModel")
        _sub(terms, "UseType", "OnDemandStream")
        _sub(terms, "UseType", "PermanentDownload")
    return root


def _technical_details(parent: ET.Element, reference: str, file_type: str, name: str, sha256: str | None) -> None:
    details = _sub(parent, "TechnicalDetails")
    _sub(details, "TechnicalResourceDetailsReference", reference)
    delivery_file = _sub(details, "DeliveryFile")
    _sub(delivery_file, "Type", file_type)
    file = _sub(delivery_file, "File")
    _sub(file, "URI", f"resources/{name}")
    if sha256:
        hash_sum = _sub(file, "HashSum")
        _sub(hash_sum, "Algorithm", "SHA256")
        _sub(hash_sum, "HashSumValue", sha256)


def to_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_order(element: ET.Element, path: str, spec: Spec, problems: list[str]) -> None:
    names = [name for name, _, _ in spec]
    position = 0
    counts: dict[str, int] = {}
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag.startswith("{"):
            problems.append(f"{path}/{_local(tag)}: child elements must be unqualified (no namespace)")
        name = _local(tag)
        if name not in names:
            problems.append(f"{path}: unexpected element {name}")
            continue
        index = names.index(name)
        if index < position:
            problems.append(f"{path}: {name} is out of order (expected after {names[position]})")
        position = max(position, index)
        counts[name] = counts.get(name, 0) + 1
    for name, minimum, maximum in spec:
        count = counts.get(name, 0)
        if count < minimum:
            problems.append(f"{path}: missing required {name}")
        if maximum is not None and count > maximum:
            problems.append(f"{path}: {name} occurs {count} times, at most {maximum} allowed")


def _walk(element: ET.Element, parent_name: str, path: str, problems: list[str]) -> None:
    name = _local(element.tag)
    spec = ELEMENT_ORDER.get(f"{parent_name}/{name}") or ELEMENT_ORDER.get(name)
    if spec is not None:
        _check_order(element, path, spec, problems)
    text = (element.text or "").strip()
    if name in NON_EMPTY and not text:
        problems.append(f"{path}: must not be empty")
    avs = AVS.get(f"{parent_name}/{name}") or AVS.get(name)
    if avs is not None and text not in avs:
        problems.append(f"{path}: {text!r} is not an allowed value ({', '.join(sorted(avs))})")
    if name == "ISRC" and not ISRC_RE.match(text):
        problems.append(f"{path}: {text!r} is not an ISRC (CCXXXYYNNNNN)")
    if name == "Duration" and not DURATION_PATTERN.match(text):
        problems.append(f"{path}: {text!r} is not an ISO 8601 duration like PT3M12S")
    if name in {"StartDate", "ReleaseDate"} and not DATE_PATTERN.match(text):
        problems.append(f"{path}: {text!r} is not an ISO 8601 date")
    if name == "MessageCreatedDateTime":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            problems.append(f"{path}: {text!r} is not an ISO 8601 date-time")
        else:
            if moment.tzinfo is None:
                problems.append(f"{path}: the date-time needs a time zone offset")
    if name == "RightSharePercentage" and not PERCENT_PATTERN.match(text):
        problems.append(f"{path}: {text!r} is not a decimal percentage")
    for child in element:
        _walk(child, name, f"{path}/{_local(child.tag)}", problems)


def check_new_release_message(root: ET.Element) -> list[str]:
    """Every way ``root`` departs from the ERN 4.3 structure we implement; empty when valid."""
    problems: list[str] = []
    if root.tag != f"{{{ERN_NAMESPACE}}}NewReleaseMessage":
        problems.append(f"root element is {root.tag}, expected {{{ERN_NAMESPACE}}}NewReleaseMessage")
        return problems
    if root.get("AvsVersionId") != AVS_VERSION:
        problems.append(f"AvsVersionId must be {AVS_VERSION!r}")
    if not root.get("LanguageAndScriptCode"):
        problems.append("LanguageAndScriptCode is required")
    if not (root.get(f"{{{XSI_NAMESPACE}}}schemaLocation") or "").startswith(ERN_NAMESPACE):
        problems.append("xsi:schemaLocation must name the ERN 4.3 namespace")
    _walk(root, "", "NewReleaseMessage", problems)

    party_refs = {(p.findtext("PartyReference") or "") for p in root.iterfind("PartyList/Party")}
    if len(party_refs) != len(root.findall("PartyList/Party")):
        problems.append("PartyList: PartyReference values must be unique")
    party_tags = (
        "ArtistPartyReference",
        "RightsControllerPartyReference",
        "ReleaseLabelReference",
        "DisplayCreditParty",
    )
    for tag in party_tags:
        for element in root.iter(tag):
            if (element.text or "") not in party_refs:
                problems.append(f"{tag} {element.text!r} does not name a Party in the PartyList")
    resource_refs = {(e.text or "") for e in root.iterfind("ResourceList/*/ResourceReference")}
    for tag in ("ReleaseResourceReference", "LinkedReleaseResourceReference"):
        for element in root.iter(tag):
            if (element.text or "") not in resource_refs:
                problems.append(f"{tag} {element.text!r} does not name a resource in the ResourceList")
    release_refs = {(e.text or "") for e in root.iterfind("ReleaseList/Release/ReleaseReference")}
    for element in root.iter("DealReleaseReference"):
        if (element.text or "") not in release_refs:
            problems.append(f"DealReleaseReference {element.text!r} does not name a Release")
    for recording in root.iterfind("ResourceList/SoundRecording"):
        shares = [c.findtext("RightSharePercentage") or "" for c in recording.iterfind("ResourceRightsController")]
        if shares and all(PERCENT_PATTERN.match(s) for s in shares):
            total = sum((Fraction(s) for s in shares), Fraction(0))
            if total != 100:
                problems.append(f"SoundRecording rights controller shares sum to {float(total)}%, not exactly 100%")
    return problems
