"""The catch-up (C5): what webhooks never say (payments, deleted payments) or did not deliver, read from each
connected tenant with ``If-Modified-Since`` from its stored cursors.

==================  ======================  ===========================================================
module              use case                function
==================  ======================  ===========================================================
:mod:`.fan_out`     :class:`RequestCatchUps`  ``catch_up`` on its schedule: one request per tenant
:mod:`.tenant`      :class:`CatchUpTenant`    ``catch_up`` on ``CatchUpQueue``: one tenant caught up
==================  ======================  ===========================================================
"""
