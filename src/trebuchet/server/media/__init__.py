"""Media: users' files (spec §5) and the media of MMS.

* ``names``   what a media name may be, and media URLs;
* ``types``   ``Content-Type`` parsing and the MMS allow-list;
* ``storage`` the storage interface, its local filesystem implementation, the factory;
* ``s3``      the storage in an S3-compatible bucket (``media_backend = "s3"``), and
  ``s3_upload`` its uploads (one PutObject or a multipart upload);
* ``parts``   an MMS part in flight, and the names of received parts;
* ``fetch``   fetching an MMS's media within its limits, storing received parts.

The HTTP endpoints are in :mod:`trebuchet.server.api.media`.
"""
