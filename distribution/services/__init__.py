"""Every write of the distribution app, one module per step; callers import the submodule.

* :mod:`distribution.services.isrc` — issuing ISRCs from the registrant's counter.
* :mod:`distribution.services.publish` — publishing a song: release, ISRC, artwork and split sheet
  in one transaction.
* :mod:`distribution.services.delivery` — delivery to the distributor (in a job, outside any lock),
  status updates, webhooks, requeue and takedown.
"""
