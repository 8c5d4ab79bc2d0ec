"""API routes of the royalties app, mounted under /api/."""

from django.urls import URLPattern, URLResolver, path, re_path

from royalties import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("royalties/statements/", api.StatementListApi.as_view(), name="royalties-statements"),
    re_path(
        r"^royalties/statements/(?P<period>[0-9]{4}-[0-9]{2})\.(?P<kind>csv|pdf)$",
        api.HolderStatementDocumentApi.as_view(),
        name="royalties-statement-document",
    ),
    path("royalties/earnings/", api.EarningListApi.as_view(), name="royalties-earnings"),
    path("royalties/payouts/", api.PayoutListApi.as_view(), name="royalties-payouts"),
    path("royalties/imports/", api.StatementImportApi.as_view(), name="royalties-import"),
    path("royalties/uploads/", api.StatementUploadCreateApi.as_view(), name="royalties-upload"),
    path("royalties/uploads/<int:upload_id>/", api.StatementUploadDetailApi.as_view(), name="royalties-upload-detail"),
    path(
        "royalties/uploads/<int:upload_id>/decision/",
        api.StatementUploadDecisionApi.as_view(),
        name="royalties-upload-decision",
    ),
]
