"""Label staff roles: the Django groups a staff account is put in, and what each may do.

Staff status only opens the admin; every page, action and staff API path checks one
of these permissions (``songforge.permissions``). Migration ``staff.0003`` creates the
groups with exactly these permissions (a later change here needs a new migration;
``tests/security/test_staff_roles.py`` fails until the database matches).

Custom permissions are declared on the models (``Meta.permissions``):
``catalog.verify_rights``, ``catalog.change_payout_details``, ``catalog.link_holder_user``,
``generation.link_training_recording``, ``distribution.take_down_release``,
``distribution.deliver_release``, ``royalties.import_statement``,
``royalties.reapply_suspense``, ``royalties.approve_payoutrun``, ``royalties.pay_payoutrun``.
"""

from __future__ import annotations

RIGHTS_MANAGER = "Rights manager"
ROYALTY_ACCOUNTANT = "Royalty accountant"
PAYOUT_APPROVER = "Payout approver"
READ_ONLY_AUDITOR = "Read-only auditor"

# Apps whose every view_* permission the auditor holds (plus the audit trail itself).
AUDITED_APPS = ("catalog", "uploads", "generation", "royalties", "distribution", "staff")

ROLES: dict[str, tuple[str, ...]] = {
    # Keeps the catalog's rights right: recordings, shares, verification, holder ↔ account links,
    # training links, takedowns and redeliveries. Sees no money beyond split sheets.
    RIGHTS_MANAGER: (
        "catalog.view_recording",
        "catalog.add_recording",
        "catalog.change_recording",
        "catalog.verify_rights",
        "catalog.view_recordingshare",
        "catalog.add_recordingshare",
        "catalog.change_recordingshare",
        "catalog.delete_recordingshare",
        "catalog.view_sharechange",
        "catalog.view_rightsholder",
        "catalog.add_rightsholder",
        "catalog.change_rightsholder",
        "catalog.link_holder_user",
        "uploads.view_uploadset",
        "uploads.view_upload",
        "uploads.change_upload",
        "generation.view_generation",
        "generation.view_trainingrecording",
        "generation.change_trainingrecording",
        "generation.link_training_recording",
        "distribution.view_release",
        "distribution.take_down_release",
        "distribution.deliver_release",
        "royalties.view_splitsheet",
        "royalties.view_splitsheetline",
    ),
    # Brings money in and out: imports statements, works the suspense queue, creates payout
    # runs, records payments, keeps holders' payout details. Cannot approve a run.
    ROYALTY_ACCOUNTANT: (
        "royalties.view_statement",
        "royalties.import_statement",
        "royalties.view_statementupload",
        "royalties.view_linegroup",
        "royalties.reapply_suspense",
        "royalties.view_account",
        "royalties.view_transaction",
        "royalties.view_entry",
        "royalties.view_splitsheet",
        "royalties.view_splitsheetline",
        "royalties.view_payoutrun",
        "royalties.add_payoutrun",
        "royalties.pay_payoutrun",
        "royalties.view_payout",
        "catalog.view_rightsholder",
        "catalog.change_rightsholder",
        "catalog.change_payout_details",
        "catalog.view_recording",
        "distribution.view_release",
    ),
    # The second pair of eyes: reads runs and what they pay, approves them. Nothing else.
    PAYOUT_APPROVER: (
        "royalties.view_payoutrun",
        "royalties.approve_payoutrun",
        "royalties.view_payout",
        "royalties.view_account",
        "royalties.view_transaction",
        "royalties.view_entry",
        "catalog.view_rightsholder",
    ),
    # Reads everything, including the audit trail; changes nothing. Filled in by the migration
    # with every view_* permission of AUDITED_APPS.
    READ_ONLY_AUDITOR: (),
}
