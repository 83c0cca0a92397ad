"""The image edge: name an image, resolve it to one digest, and read its parts, verified.

* ``reference`` - parse IMAGE (registry reference, ``oci:DIR[:TAG]``, ``docker-archive:F``,
  ``docker-daemon:NAME``); ``normalise_repository`` for base-image names.
* ``auth`` - registry credentials (env, docker ``config.json``) and auth challenges.
* ``registry`` - ``RegistryClient``: manifests, blobs, referrers; retries; digest checks.
* ``engine`` - a Docker Engine API client (``DOCKER_HOST``): inspect, export (``docker save``).
* ``sources`` - ``open_image`` → ``ImageSource`` (subject, scan target, config, layers).
* ``passwd`` - ``read_user_files``: /etc/passwd and /etc/group as the layers show them.
* ``users`` - ``resolve_exec_user``: ``config.User`` → uid, as moby/sys/user's GetExecUser.

Nothing here imports ``requests`` at module level.
"""
