"""Statements API for rights holders (their own token) and staff (everything their role allows).

A holder's user (``RightsHolder.user``) only ever sees rows of its own holder: the
holder is taken from the token, never from the request. Staff with the view's
permission (``staff_permissions``, checked by ``songforge.permissions``) see all
holders and may narrow with ``?holder=ID``; staff without it get 403. Lists are paginated, filter by ``?period=YYYY-MM``
and export CSV with ``?export=csv``. All views share the ``statements`` throttle.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from royalties.documents import csv_rows, holder_statement_csv, holder_statement_pdf
from royalties.imports import statement_import_upload
from royalties.models import StatementUpload
from royalties.selectors import holder_earnings, holder_statements, payouts_for
from royalties.statement_files import DECISIONS, statement_upload_create, statement_upload_decide
from songforge.codes import PERIOD_RE, PERIOD_REGEX
from songforge.permissions import HolderOrStaffPermission, StaffPermission
from songforge.throttling import TokenRateThrottle

LIST_PARAMETERS = [
    OpenApiParameter("period", OpenApiTypes.STR, description="Only this period (YYYY-MM)."),
    OpenApiParameter("holder", OpenApiTypes.INT, description="Staff only: only this rights holder."),
    OpenApiParameter("export", OpenApiTypes.STR, enum=["csv"], description="csv: the whole list as a CSV file."),
    OpenApiParameter("page", OpenApiTypes.INT),
]


class RoyaltyFilterSerializer(serializers.Serializer[Any]):
    period = serializers.RegexField(PERIOD_REGEX, required=False)
    holder = serializers.IntegerField(required=False, min_value=1)
    export = serializers.ChoiceField(choices=["csv"], required=False)


class StatementsApiBase(APIView):
    """Holders read their own rows; staff read everyone's only with the view's ``staff_permissions``."""

    permission_classes = [HolderOrStaffPermission]
    staff_permissions = {"GET": "royalties.view_entry"}
    throttle_classes = [ScopedRateThrottle, TokenRateThrottle]
    throttle_scope = "statements"

    def scope(self, request: Request) -> tuple[int | None, dict[str, Any]]:
        """(holder id to show, or None for all; validated filters). Refuses users without a holder."""
        filters = RoyaltyFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        if request.user.is_staff:
            return data.get("holder"), data
        holder = getattr(request.user, "rights_holder", None)
        if holder is None:
            raise PermissionDenied("This account is not linked to a rights holder; ask SongForge staff to link it.")
        return holder.pk, data

    def paginate(self, request: Request, rows: Any, serializer: type[serializers.Serializer[Any]]) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(serializer(page, many=True).data)

    def export(self, filename: str, serializer: type[serializers.Serializer[Any]], rows: Any) -> StreamingHttpResponse:
        fields = list(serializer().fields)
        data = (serializer(row).data for row in rows.iterator())
        response = StreamingHttpResponse(
            csv_rows(fields, ([item[f] for f in fields] for item in data)), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class RoyaltyStatementSerializer(serializers.Serializer[Any]):
    holder_id = serializers.IntegerField(source="account__holder_id")
    holder = serializers.CharField(source="account__holder__name")
    period = serializers.CharField()
    currency = serializers.CharField()
    earned_minor = serializers.IntegerField(source="earned", help_text="Credits from allocations (minor units).")
    refunded_minor = serializers.IntegerField(source="refunded", help_text="Debits from refund lines (minor units).")
    paid_out_minor = serializers.IntegerField(source="paid_out", help_text="Payouts (minor units).")
    carried_minor = serializers.IntegerField(
        source="carried", help_text="Owed to the holder at the end of the period (minor units)."
    )


class StatementListApi(StatementsApiBase):
    @extend_schema(
        operation_id="royalties_statements_list",
        parameters=LIST_PARAMETERS,
        responses=RoyaltyStatementSerializer(many=True),
        summary="Per holder, period and currency: earned, refunded, paid out and carried (minor units).",
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        holder_id, filters = self.scope(request)
        rows = holder_statements(holder_id=holder_id, period=filters.get("period"))
        if filters.get("export") == "csv":
            return self.export("statements.csv", RoyaltyStatementSerializer, rows)
        return self.paginate(request, rows, RoyaltyStatementSerializer)


class RoyaltyEarningSerializer(serializers.Serializer[Any]):
    holder_id = serializers.IntegerField(source="account__holder_id")
    holder = serializers.CharField(source="account__holder__name")
    release_id = serializers.IntegerField(allow_null=True)
    isrc = serializers.CharField(source="release__isrc", allow_null=True)
    title = serializers.CharField(source="release__title", allow_null=True)
    period = serializers.CharField()
    currency = serializers.CharField()
    amount_minor = serializers.SerializerMethodField()

    def get_amount_minor(self, row: dict[str, Any]) -> int:
        return -int(row["total"])


class EarningListApi(StatementsApiBase):
    @extend_schema(
        operation_id="royalties_earnings_list",
        parameters=LIST_PARAMETERS,
        responses=RoyaltyEarningSerializer(many=True),
        summary="Per-release earnings (minor units) of a holder.",
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        holder_id, filters = self.scope(request)
        rows = holder_earnings(holder_id=holder_id, period=filters.get("period"))
        if filters.get("export") == "csv":
            return self.export("earnings.csv", RoyaltyEarningSerializer, rows)
        return self.paginate(request, rows, RoyaltyEarningSerializer)


class RoyaltyPayoutSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    holder_id = serializers.IntegerField()
    holder = serializers.CharField(source="holder.name")
    period = serializers.CharField(source="run.period")
    currency = serializers.CharField()
    amount_minor = serializers.IntegerField()
    is_paid = serializers.SerializerMethodField()
    paid_at = serializers.DateTimeField(allow_null=True)

    def get_is_paid(self, payout: Any) -> bool:
        return payout.paid_transaction_id is not None


class PayoutListApi(StatementsApiBase):
    staff_permissions = {"GET": "royalties.view_payout"}

    @extend_schema(
        operation_id="royalties_payouts_list",
        parameters=LIST_PARAMETERS,
        responses=RoyaltyPayoutSerializer(many=True),
        summary="Payouts of a holder.",
    )
    def get(self, request: Request) -> Response | StreamingHttpResponse:
        holder_id, filters = self.scope(request)
        rows = payouts_for(holder_id=holder_id, period=filters.get("period"))
        if filters.get("export") == "csv":
            return self.export("payouts.csv", RoyaltyPayoutSerializer, rows)
        return self.paginate(request, rows, RoyaltyPayoutSerializer)


class HolderStatementDocumentApi(StatementsApiBase):
    """The holder's statement of one period as a CSV or PDF document."""

    @extend_schema(
        operation_id="royalties_statement_document",
        parameters=[OpenApiParameter("holder", OpenApiTypes.INT, description="Staff only: which holder (required).")],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, (200, "text/csv"): OpenApiTypes.STR},
        summary="A holder's statement for a period, as PDF or CSV.",
    )
    def get(self, request: Request, period: str, kind: str) -> HttpResponse:
        holder_id, _ = self.scope(request)
        if holder_id is None:
            raise PermissionDenied("Staff: name the holder with ?holder=ID.")
        if not PERIOD_RE.match(period):
            return HttpResponse("Period must be YYYY-MM.", status=status.HTTP_400_BAD_REQUEST)
        if kind == "pdf":
            response = HttpResponse(
                holder_statement_pdf(holder_id=holder_id, period=period), content_type="application/pdf"
            )
        else:
            response = HttpResponse(holder_statement_csv(holder_id=holder_id, period=period), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="statement-{holder_id}-{period}.{kind}"'
        return response


class StatementImportApi(APIView):
    """Staff upload of a distributor statement (same file twice: 200 and nothing changes)."""

    permission_classes = [StaffPermission]
    staff_permissions = {"POST": "royalties.import_statement"}
    parser_classes = [MultiPartParser]
    throttle_classes = [ScopedRateThrottle, TokenRateThrottle]
    throttle_scope = "statements"

    class StatementImportInputSerializer(serializers.Serializer[Any]):
        file = serializers.FileField()
        reference = serializers.CharField(required=False, max_length=255)
        accept_overlap = serializers.BooleanField(
            required=False,
            default=False,
            help_text="Staff decision: import although the keys overlap earlier statements (a correction).",
        )

    class StatementImportOutputSerializer(serializers.Serializer[Any]):
        id = serializers.IntegerField()
        reference = serializers.CharField()
        sha256 = serializers.CharField()
        line_count = serializers.IntegerField()
        group_count = serializers.IntegerField()
        totals = serializers.JSONField()
        is_correction = serializers.BooleanField()
        is_created = serializers.BooleanField()

    @extend_schema(
        operation_id="royalties_statement_import",
        request={"multipart/form-data": StatementImportInputSerializer},
        responses={
            201: StatementImportOutputSerializer,
            200: OpenApiResponse(StatementImportOutputSerializer, description="Already imported; nothing changed."),
            400: OpenApiResponse(description="Malformed file: code statement_invalid, extra.line"),
            409: OpenApiResponse(
                description="Another file was imported under this reference (statement_conflict), or the keys "
                "overlap earlier statements (statement_held, extra shows the overlap; post again with "
                "accept_overlap=true to import it as a correction)"
            ),
        },
        summary="Import a CSV/TSV statement (staff).",
    )
    def post(self, request: Request) -> Response:
        serializer = self.StatementImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        result = statement_import_upload(
            file=upload,
            name=upload.name,
            reference=serializer.validated_data.get("reference"),
            by_id=request.user.pk,
            accept_overlap=serializer.validated_data["accept_overlap"],
        )
        statement = result.statement
        data = self.StatementImportOutputSerializer(
            {
                "id": statement.pk,
                "reference": statement.reference,
                "sha256": statement.sha256,
                "line_count": statement.line_count,
                "group_count": statement.group_count,
                "totals": statement.totals,
                "is_correction": statement.is_correction,
                "is_created": result.is_created,
            }
        ).data
        return Response(data, status=status.HTTP_201_CREATED if result.is_created else status.HTTP_200_OK)


class StatementUploadOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    original_name = serializers.CharField()
    status = serializers.CharField()
    error = serializers.JSONField()
    is_correction = serializers.BooleanField()
    decided_at = serializers.DateTimeField(allow_null=True)
    statement_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StatementUploadCreateApi(APIView):
    """Staff upload of a large statement, imported in the background (poll the upload for its status)."""

    permission_classes = [StaffPermission]
    staff_permissions = {"POST": "royalties.import_statement"}
    parser_classes = [MultiPartParser]
    throttle_classes = [ScopedRateThrottle, TokenRateThrottle]
    throttle_scope = "statements"

    class StatementUploadInputSerializer(serializers.Serializer[Any]):
        file = serializers.FileField()
        reference = serializers.CharField(required=False, max_length=255)

    @extend_schema(
        operation_id="royalties_statement_upload_create",
        request={"multipart/form-data": StatementUploadInputSerializer},
        responses={202: StatementUploadOutputSerializer},
        summary="Queue a CSV/TSV statement for import in the background (staff).",
    )
    def post(self, request: Request) -> Response:
        serializer = self.StatementUploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload_file = serializer.validated_data["file"]
        upload = statement_upload_create(
            file=upload_file,
            name=upload_file.name,
            reference=serializer.validated_data.get("reference"),
            by_id=request.user.pk,
        )
        return Response(StatementUploadOutputSerializer(upload).data, status=status.HTTP_202_ACCEPTED)


class StatementUploadDetailApi(APIView):
    permission_classes = [StaffPermission]
    staff_permissions = {"GET": "royalties.view_statementupload"}
    throttle_classes = [ScopedRateThrottle, TokenRateThrottle]
    throttle_scope = "statements"

    @extend_schema(
        operation_id="royalties_statement_upload_detail",
        responses={200: StatementUploadOutputSerializer},
        summary="Status of a queued statement import: queued, running, done or failed (with the line).",
    )
    def get(self, request: Request, upload_id: int) -> Response:
        upload = StatementUpload.objects.filter(pk=upload_id).first()
        if upload is None:
            raise NotFound(f"No statement upload {upload_id}.")
        return Response(StatementUploadOutputSerializer(upload).data)


class StatementUploadDecisionApi(APIView):
    """Staff decision on a held upload (its keys overlap earlier statements): import as a correction, or reject."""

    permission_classes = [StaffPermission]
    staff_permissions = {"POST": "royalties.import_statement"}
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "statements"

    class StatementUploadDecisionInputSerializer(serializers.Serializer[Any]):
        decision = serializers.ChoiceField(choices=list(DECISIONS))

    @extend_schema(
        operation_id="royalties_statement_upload_decide",
        request=StatementUploadDecisionInputSerializer,
        responses={200: StatementUploadOutputSerializer},
        summary="Import a held statement as a correction, or reject it (staff who may import statements).",
    )
    def post(self, request: Request, upload_id: int) -> Response:
        serializer = self.StatementUploadDecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not StatementUpload.objects.filter(pk=upload_id).exists():
            raise NotFound(f"No statement upload {upload_id}.")
        upload = statement_upload_decide(
            upload_id=upload_id, decision=serializer.validated_data["decision"], by_id=request.user.pk
        )
        return Response(StatementUploadOutputSerializer(upload).data)
