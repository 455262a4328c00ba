"""Media: users' files (spec §5) and the media of MMS.

* ``names``   what a media name may be, and media URLs;
* ``types``   ``Content-Type`` parsing and the MMS allow-list;
* ``storage`` the storage interface and its local filesystem implementation;
* ``parts``   an MMS part in flight, and the names of received parts;
* ``fetch``   fetching an MMS's media within its limits, storing received parts.

The HTTP endpoints are in :mod:`trebuchet.server.api.media`.
"""
