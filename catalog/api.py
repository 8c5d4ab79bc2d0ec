"""Catalog API views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.clients.apple_music import apple_music_search_for_catalog, provider_enabled
from catalog.models import Recording
from catalog.selectors import recording_search


def artwork_url(recording: Recording) -> str:
    if recording.artwork:
        return str(recording.artwork.url)
    return recording.artwork_url.replace("{w}", "600").replace("{h}", "600")


class RecordingSearchApi(APIView):
    """Ranked search over title, artist and album, tolerant of typos and accents (for the manual match).

    With ``SONGFORGE_CATALOG=apple-music`` the songs Apple Music finds are first stored as recordings.
    """

    class InputSerializer(serializers.Serializer[Any]):
        q = serializers.CharField(max_length=200, trim_whitespace=True)
        limit = serializers.IntegerField(min_value=1, max_value=100, default=20)

    @extend_schema_serializer(component_name="CatalogRecording")
    class OutputSerializer(serializers.Serializer[Any]):
        id = serializers.IntegerField()
        external_id = serializers.CharField()
        title = serializers.CharField()
        artist = serializers.CharField()
        album = serializers.CharField()
        isrc = serializers.CharField(allow_null=True)
        artwork_url = serializers.SerializerMethodField()
        duration_ms = serializers.IntegerField(allow_null=True)
        provider = serializers.CharField()

        def get_artwork_url(self, recording: Recording) -> str:
            return artwork_url(recording)

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True), OpenApiParameter("limit", int)],
        responses={
            200: inline_serializer("CatalogSearchResults", {"results": OutputSerializer(many=True)}),
        },
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data: dict[str, Any] = params.validated_data
        if provider_enabled():
            apple_music_search_for_catalog(term=data["q"], limit=data["limit"])
        results = recording_search(data["q"], data["limit"])
        return Response({"results": self.OutputSerializer(results, many=True).data})
