"""Real-time sync (C5): Xero's signed webhooks received in milliseconds, then the changed records fetched.

=======================  ==========================  =====================================================
module                   use case                    function
=======================  ==========================  =====================================================
:mod:`.receive`          :class:`ReceiveWebhook`       ``webhook_receiver`` (``POST /webhooks/xero``)
:mod:`.consume`          :class:`ConsumeDelivery`      ``change_fetcher`` (``WebhooksQueue``): one message
:mod:`.fetch_changes`    :class:`FetchChanges`         ... its records fetched and sent to the writer
=======================  ==========================  =====================================================
"""
