"""Upload API: sets of ten songs, their identification status, manual matches and readiness.

Every lookup is scoped to ``request.user``: another artist's set or upload is a 404, never a 403, so
ids do not leak which sets exist.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from songforge.text import no_control_characters
from uploads import selectors, services
from uploads.models import UploadSet


class RecordingBriefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    isrc = serializers.CharField(allow_null=True)
    title = serializers.CharField()
    artist = serializers.CharField()


class UploadOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    upload_set_id = serializers.IntegerField()
    original_name = serializers.CharField()
    audio_format = serializers.CharField()
    size_bytes = serializers.IntegerField()
    duration_s = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    recording = RecordingBriefSerializer(allow_null=True)
    match_method = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    offset_s = serializers.FloatField(allow_null=True)
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class PendingSerializer(serializers.Serializer[Any]):
    upload_id = serializers.IntegerField()
    original_name = serializers.CharField()
    status = serializers.CharField()
    failure_reason = serializers.CharField()


class ReadinessSerializer(serializers.Serializer[Any]):
    upload_set_id = serializers.IntegerField()
    is_ready = serializers.BooleanField()
    size = serializers.IntegerField()
    uploaded = serializers.IntegerField()
    matched = serializers.IntegerField()
    not_matched = PendingSerializer(many=True)
    reasons = serializers.ListField(child=serializers.CharField())


class UploadSetOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    uploads = UploadOutputSerializer(many=True)
    readiness = ReadinessSerializer()


def _set_payload(upload_set: UploadSet) -> dict[str, Any]:
    return UploadSetOutputSerializer(
        {
            "id": upload_set.pk,
            "title": upload_set.title,
            "created_at": upload_set.created_at,
            "uploads": selectors.uploads_of_set(upload_set_id=upload_set.pk),
            "readiness": selectors.upload_set_readiness(upload_set_id=upload_set.pk),
        }
    ).data


def _user_id(request: Request) -> int:
    pk = request.user.pk
    assert pk is not None  # IsAuthenticated ran first
    return int(pk)


def _upload_payload(upload_id: int) -> dict[str, Any]:
    return UploadOutputSerializer(selectors.upload_get(upload_id=upload_id)).data


class UploadSetCreateApi(APIView):
    class UploadSetCreateInputSerializer(serializers.Serializer[Any]):
        title = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default="", validators=[no_control_characters]
        )

    @extend_schema(request=UploadSetCreateInputSerializer, responses={201: UploadSetOutputSerializer})
    def post(self, request: Request) -> Response:
        body = self.UploadSetCreateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload_set = services.upload_set_create(owner_id=_user_id(request), title=body.validated_data["title"])
        return Response(_set_payload(upload_set), status=status.HTTP_201_CREATED)


class UploadSetDetailApi(APIView):
    """The set with each upload's status, recording, confidence and offset, and the readiness verdict."""

    @extend_schema(responses={200: UploadSetOutputSerializer})
    def get(self, request: Request, upload_set_id: int) -> Response:
        upload_set = selectors.upload_set_owned(upload_set_id=upload_set_id, owner_id=_user_id(request))
        return Response(_set_payload(upload_set))


class UploadAddApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class UploadAddInputSerializer(serializers.Serializer[Any]):
        file = serializers.FileField(allow_empty_file=False, max_length=255)

    @extend_schema(request={"multipart/form-data": UploadAddInputSerializer}, responses={201: UploadOutputSerializer})
    def post(self, request: Request, upload_set_id: int) -> Response:
        body = self.UploadAddInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = services.upload_add(
            upload_set_id=upload_set_id, owner_id=_user_id(request), file=body.validated_data["file"]
        )
        return Response(_upload_payload(upload.pk), status=status.HTTP_201_CREATED)


class UploadDetailApi(APIView):
    @extend_schema(responses={200: UploadOutputSerializer})
    def get(self, request: Request, upload_id: int) -> Response:
        selectors.upload_owned(upload_id=upload_id, owner_id=_user_id(request))
        return Response(_upload_payload(upload_id))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, upload_id: int) -> Response:
        services.upload_delete(upload_id=upload_id, owner_id=_user_id(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UploadMatchApi(APIView):
    """Claim the catalog recording by hand (also disputes an automatic match).

    The upload then waits for a staff review (status ``review``); the set cannot generate until
    a reviewer approves the claim.
    """

    class UploadMatchInputSerializer(serializers.Serializer[Any]):
        recording_id = serializers.IntegerField(min_value=1)

    @extend_schema(request=UploadMatchInputSerializer, responses={202: UploadOutputSerializer})
    def post(self, request: Request, upload_id: int) -> Response:
        body = self.UploadMatchInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        claim = services.upload_match_claim(
            upload_id=upload_id, owner_id=_user_id(request), recording_id=body.validated_data["recording_id"]
        )
        return Response(_upload_payload(claim.upload_id), status=status.HTTP_202_ACCEPTED)


class UploadIdentifyAgainApi(APIView):
    @extend_schema(request=None, responses={202: UploadOutputSerializer})
    def post(self, request: Request, upload_id: int) -> Response:
        upload = services.upload_identify_again(upload_id=upload_id, owner_id=_user_id(request))
        return Response(_upload_payload(upload.pk), status=status.HTTP_202_ACCEPTED)


class UploadSetReadinessApi(APIView):
    @extend_schema(responses={200: ReadinessSerializer})
    def get(self, request: Request, upload_set_id: int) -> Response:
        readiness = selectors.upload_set_readiness(upload_set_id=upload_set_id, owner_id=_user_id(request))
        return Response(ReadinessSerializer(readiness).data)
