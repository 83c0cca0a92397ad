"""The OCI vocabulary, pure: names, digests, media types, manifests, platforms, users.

* ``reference`` - parse IMAGE (registry reference, ``oci:DIR[:TAG]``, ``docker-archive:F``,
  ``docker-daemon:NAME``); ``normalise_repository`` for base-image names.
* ``digests`` - digest syntax, hashing, ``VerifyingReader`` (a stream checked as it is read).
* ``mediatypes`` - the manifest and index media types the gate accepts.
* ``manifest`` - manifests, indexes and image configs parsed into the gate's facts.
* ``platforms`` - containerd's platform parsing and matching (which index entry runs).
* ``users`` - ``resolve_exec_user``: ``config.User`` → uid, as moby/sys/user's GetExecUser.

No network, no subprocess, no file opened here: ``gate.image`` does the I/O and hands the
bytes to these functions.
"""
