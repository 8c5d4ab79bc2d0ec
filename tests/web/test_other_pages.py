"""Earnings, catalog search, sign-up pages and the formatting tags."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_earnings_without_releases_explains_what_comes(owner_client):
    response = owner_client.get(reverse("royalties:earnings"))
    assert response.status_code == 200
    assert "No published songs yet" in response.content.decode()


def test_catalog_search_finds_recordings_despite_a_typo(owner_client, recordings):
    response = owner_client.get(reverse("catalog:search"), {"q": "tiny sogn 03"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Tiny Song 03" in html


def test_manual_match_search_offers_pick_buttons(owner_client, matched_set):
    upload = matched_set.uploads.order_by("id").first()
    response = owner_client.get(reverse("uploads:upload_search", args=[upload.pk]), {"q": "Band C"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Pick Tiny Song 02 by Band C" in html
    assert reverse("uploads:upload_match", args=[upload.pk]) in html


def test_sign_up_and_sign_in_pages_use_the_site_layout(client):
    for url in ("/accounts/signup/", "/accounts/login/"):
        html = client.get(url).content.decode()
        assert 'class="card narrow auth"' in html
        assert "songforge.css" in html
        assert 'class="site-header"' in html


def render(source: str, **context) -> str:
    return Template("{% load songforge %}" + source).render(Context(context))


def test_filters_format_money_shares_and_durations():
    assert render("{{ a|money:'EUR' }}", a=123456) == "1,234.56 EUR"
    assert render("{{ a|money:'JPY' }}", a=1500) == "1,500 JPY"
    assert render("{{ a|ppb_percent }}", a=670_000_000) == "67.00%"
    assert render("{{ a|bps_percent }}", a=3300) == "33.00%"
    assert render("{{ a|duration }}", a=152.4) == "2:32"
    assert render("{{ a|share_percent }}", a=0.19) == "19.0%"


def test_charts_escape_labels_and_describe_themselves():
    html = render("{% bar_chart items 'Influence' %}", items=[("<script>x</script>", 0.5), ("B", 0.25)])
    assert "<script>x" not in html
    assert "&lt;script&gt;" in html
    assert 'aria-label="Influence: &lt;script&gt;x&lt;/script&gt;: 50.0%; B: 25.0%"' in html
    assert "50.0%" in html
    donut = render("{% donut_chart items 'Pools' %}", items=[("Sources", 0.67), ("Catalog", 0.33)])
    assert "Sources — 67.0%" in donut
    assert "Catalog — 33.0%" in donut
    line = render("{% line_chart x series 'Plays' %}", x=["2026-01", "2026-02"], series=[("Song", [10, 30])])
    assert "polyline" in line
    assert "2026-02" in line


def test_earnings_show_plays_and_money_per_song_store_and_territory(
    owner_client, owner, matched_set, tmp_path, django_capture_on_commit_callbacks
):
    from distribution.services.publish import release_publish
    from royalties.imports import rows_to_csv, statement_import
    from tests.web.conftest import finished_generation

    generation = finished_generation(matched_set)
    release = release_publish(
        generation_id=generation.pk,
        owner_id=owner.pk,
        title="Morning Forge",
        artist_name="Owner",
        genre="Pop",
        language="en",
        artwork=None,
        ai_disclosure="Made with AI.",
    )
    lines = [
        ("2026-01", "Spotify", "DE", 1000, "3.50"),
        ("2026-01", "Apple Music", "US", 500, "4.00"),
        ("2026-02", "Spotify", "DE", 3000, "10.50"),
    ]
    statement = tmp_path / "statement.csv"
    statement.write_text(
        rows_to_csv(
            [
                {
                    "period": period,
                    "store": store,
                    "territory": territory,
                    "isrc": release.isrc,
                    "units": units,
                    "net_revenue": revenue,
                    "currency": "EUR",
                }
                for period, store, territory, units, revenue in lines
            ]
        )
    )
    statement_import(path=statement)
    html = owner_client.get(reverse("royalties:earnings")).content.decode()
    assert "4,500 plays, 18.00 EUR earned" in html
    assert "<polyline" in html
    assert "2026-02" in html
    assert '<td>Spotify</td><td class="num">4,000</td><td class="num">14.00 EUR</td>' in html
    assert '<td>US</td><td class="num">500</td><td class="num">4.00 EUR</td>' in html
