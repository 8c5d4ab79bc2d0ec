"""Escrow claims API: a rights holder claims the escrowed share of a recording's side.

``POST /api/royalties/escrow-claims/`` files a claim for the caller's own holder (taken from the
token, never from the request; staff name ``holder_id``); ``GET`` lists the caller's claims (staff:
all). A staff member other than the claimant decides in the admin.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from royalties.escrow import escrow_claim_create, escrow_claims_for
from songforge.permissions import HolderOrStaffPermission, acting_user_id


class EscrowClaimOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    recording_id = serializers.IntegerField()
    side = serializers.CharField()
    holder_id = serializers.IntegerField()
    share_bps = serializers.IntegerField()
    evidence = serializers.CharField()
    status = serializers.CharField()
    decision_note = serializers.CharField()
    moved_minor = serializers.DictField(child=serializers.IntegerField(), source="moved")
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


class EscrowClaimListCreateApi(APIView):
    permission_classes = [HolderOrStaffPermission]
    staff_permissions = {"GET": "royalties.view_escrowclaim", "POST": "royalties.add_escrowclaim"}
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "statements"

    class InputSerializer(serializers.Serializer[Any]):
        recording_id = serializers.IntegerField(min_value=1)
        side = serializers.ChoiceField(choices=["master", "publishing"])
        evidence = serializers.CharField(max_length=5000)
        holder_id = serializers.IntegerField(min_value=1, required=False, help_text="Staff only.")

    def _holder_id(self, request: Request, requested: int | None) -> int | None:
        if request.user.is_staff:
            return requested
        holder = getattr(request.user, "rights_holder", None)
        if holder is None:
            raise PermissionDenied("This account is not linked to a rights holder; ask SongForge staff to link it.")
        return int(holder.pk)

    @extend_schema(operation_id="royalties_escrow_claims_list", responses=EscrowClaimOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        holder_id = self._holder_id(request, None)
        claims = escrow_claims_for(holder_id=holder_id)
        return Response(EscrowClaimOutputSerializer(claims, many=True).data)

    @extend_schema(
        operation_id="royalties_escrow_claims_create",
        request=InputSerializer,
        responses={201: EscrowClaimOutputSerializer},
        summary="Claim the escrowed share of one side of a recording, with evidence.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        holder_id = self._holder_id(request, data.get("holder_id"))
        if holder_id is None:
            raise ValidationError({"holder_id": ["Staff must name the holder the claim is for."]})
        claim = escrow_claim_create(
            recording_id=data["recording_id"],
            side=data["side"],
            holder_id=holder_id,
            evidence=data["evidence"],
            by_user_id=acting_user_id(request),
        )
        return Response(EscrowClaimOutputSerializer(claim).data, status=status.HTTP_201_CREATED)
