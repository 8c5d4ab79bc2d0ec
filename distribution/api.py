"""Release API: publish, release status, and Platoon's status webhook."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from distribution import selectors
from distribution.clients.platoon import SIGNATURE_HEADER
from distribution.services import delivery, publish
from songforge.text import no_control_characters, no_control_characters_multiline


class SplitLineSerializer(serializers.Serializer[Any]):
    holder_id = serializers.IntegerField()
    holder_name = serializers.CharField()
    holder_kind = serializers.CharField()
    ppb = serializers.IntegerField(help_text="Parts per billion of the release's earnings.")


class DeliveryEventSerializer(serializers.Serializer[Any]):
    kind = serializers.CharField()
    status = serializers.CharField()
    detail = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReleaseOutputSerializer(serializers.Serializer[Any]):
    release_id = serializers.IntegerField()
    generation_id = serializers.IntegerField()
    isrc = serializers.CharField()
    title = serializers.CharField()
    artist_name = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    distributor = serializers.CharField()
    distributor_release_id = serializers.CharField()
    store_links = serializers.DictField(child=serializers.CharField())
    rejection_reasons = serializers.ListField(child=serializers.CharField())
    delivered_at = serializers.DateTimeField(allow_null=True)
    splits = SplitLineSerializer(many=True)
    events = DeliveryEventSerializer(many=True)


def _user_id(request: Request) -> int:
    return int(request.user.pk or 0)


def _render(release_status: selectors.ReleaseStatus) -> dict[str, Any]:
    return dict(ReleaseOutputSerializer(release_status).data)


class ReleasePublishInputSerializer(serializers.Serializer[Any]):
    generation_id = serializers.IntegerField()
    title = serializers.CharField(max_length=300, validators=[no_control_characters])
    artist_name = serializers.CharField(max_length=300, validators=[no_control_characters])
    genre = serializers.CharField(max_length=100, validators=[no_control_characters])
    language = serializers.CharField(max_length=8, validators=[no_control_characters])
    ai_disclosure = serializers.CharField(max_length=2000, validators=[no_control_characters_multiline])
    artwork = serializers.FileField(required=False, allow_null=True)


class PlatoonWebhookOutputSerializer(serializers.Serializer[Any]):
    release_id = serializers.IntegerField()
    status = serializers.CharField()


class ReleasePublishApi(APIView):
    InputSerializer = ReleasePublishInputSerializer

    @extend_schema(request=InputSerializer, responses={201: ReleaseOutputSerializer, 200: ReleaseOutputSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner_id = _user_id(request)
        existed = selectors.release_for_generation(generation_id=data["generation_id"], owner_id=owner_id) is not None
        release = publish.release_publish(
            generation_id=data["generation_id"],
            owner_id=owner_id,
            title=data["title"],
            artist_name=data["artist_name"],
            genre=data["genre"],
            language=data["language"],
            artwork=data.get("artwork"),
            ai_disclosure=data["ai_disclosure"],
        )
        body = _render(selectors.release_status(release=release))
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)


class ReleaseDetailApi(APIView):
    @extend_schema(responses={200: ReleaseOutputSerializer})
    def get(self, request: Request, release_id: int) -> Response:
        release = selectors.release_get_for_owner(release_id=release_id, owner_id=_user_id(request))
        return Response(_render(selectors.release_status(release=release)))


class PlatoonWebhookApi(APIView):
    """Platoon's status callbacks; trusted only through the HMAC signature of the raw body."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: PlatoonWebhookOutputSerializer})
    def post(self, request: Request) -> Response:
        release = delivery.release_webhook_receive(
            body=request.body, signature=request.headers.get(SIGNATURE_HEADER, "")
        )
        return Response(PlatoonWebhookOutputSerializer({"release_id": release.pk, "status": release.status}).data)
