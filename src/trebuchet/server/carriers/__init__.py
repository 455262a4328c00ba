"""Carriers: where outbound messages go and inbound ones come from.

* ``base``             the carrier boundary: ``Carrier``, ``CarrierSink``, the messages,
                       ``Accepted``, ``Receipt`` and the failures
* ``sandbox``          no network, every outcome on demand
* ``smpp``             an SMPP 3.4 ESME bound to an SMSC
* ``http_upstream``    an HTTP upstream; ``upstream_events`` reads what it pushes back
* ``routing``          which carrier sends a message
* ``refs``, ``codes``  the network's ids of what was sent; delivery codes

Import from the module that holds a name: this package re-exports nothing, so importing
one carrier does not import the others.
"""
