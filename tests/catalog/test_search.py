from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from catalog.selectors import recording_search
from catalog.services import recording_upsert

pytestmark = pytest.mark.django_db

SONGS = [
    ("s1", "Bohemian Rhapsody", "Queen", "A Night at the Opera"),
    ("s2", "Café del Mar", "Energy 52", "Café del Mar"),
    ("s3", "Déjà Vu", "Beyoncé", "B'Day"),
    ("s4", "Yesterday", "The Beatles", "Help!"),
    ("s5", "Here Comes the Sun", "The Beatles", "Abbey Road"),
    ("s6", "Sunny", "Bobby Hebb", "Sunny"),
]


@pytest.fixture
def songs():
    return {
        ext: recording_upsert(external_id=ext, title=t, artist=a, album=al, duration_ms=180_000)[0]
        for ext, t, a, al in SONGS
    }


def titles(query: str, limit: int = 20) -> list[str]:
    return [r.title for r in recording_search(query, limit)]


def test_it_finds_exact_titles_first(songs):
    assert titles("yesterday") == ["Yesterday"]
    assert titles("beatles") == ["Yesterday", "Here Comes the Sun"]  # equal scores: lowest id first


def test_it_ignores_accents_both_ways(songs):
    assert titles("cafe del mar")[0] == "Café del Mar"
    assert titles("beyonce")[0] == "Déjà Vu"
    assert titles("DÉJÀ")[0] == "Déjà Vu"


def test_it_tolerates_typos(songs):
    assert titles("bohemain rapsody")[0] == "Bohemian Rhapsody"
    assert titles("yesterdy")[0] == "Yesterday"


def test_it_searches_albums_and_respects_the_limit(songs):
    assert titles("abbey road") == ["Here Comes the Sun"]
    assert len(titles("the", limit=1)) == 1


def test_it_returns_nothing_for_blank_or_unrelated_queries(songs):
    assert titles("   ") == []
    assert titles("zzqxj") == []


def test_the_api_returns_ranked_results(client, songs):
    user = get_user_model().objects.create_user("ann", "ann@example.com", "pw")
    client.force_login(user)
    response = client.get("/api/catalog/search", {"q": "bohemian rhapsody"})
    assert response.status_code == 200
    first = response.json()["results"][0]
    assert first == {
        "id": songs["s1"].id,
        "external_id": "s1",
        "title": "Bohemian Rhapsody",
        "artist": "Queen",
        "album": "A Night at the Opera",
        "isrc": None,
        "artwork_url": "",
        "duration_ms": 180_000,
        "provider": "local",
    }


def test_the_api_refuses_a_missing_query(client, songs):
    client.force_login(get_user_model().objects.create_user("ann", "ann@example.com", "pw"))
    response = client.get("/api/catalog/search")
    assert response.status_code == 400
    assert "q" in response.json()


def test_the_api_needs_a_login(client, songs):
    assert client.get("/api/catalog/search", {"q": "queen"}).status_code == 403
