"""The image edge: name an image, resolve it to one digest, and read its parts, verified.

* ``reference`` - parse IMAGE (registry reference, ``oci:DIR[:TAG]``, ``docker-archive:F``,
  ``docker-daemon:NAME``); ``normalise_repository`` for base-image names.
* ``auth`` - registry credentials (env, docker ``config.json``) and auth challenges.
* ``registry`` - ``RegistryClient``: manifests, blobs, referrers; retries; digest checks.
* ``engine`` - a Docker Engine API client (``DOCKER_HOST``): inspect, export (``docker save``).
* ``sources`` - ``open_image`` → ``ImageSource`` (subject, scan target, config, layers).
* ``passwd`` - ``lookup_user``: a user name → uid through the layers' /etc/passwd.

Nothing here imports ``requests`` at module level.
"""
