"""The image edge: resolve an image to one digest, and read its parts, verified.

What the bytes mean (references, digests, manifests, platforms, users) is ``gate.oci``,
pure; this package does the I/O.

* ``auth`` - registry credentials (env, docker ``config.json``) and auth challenges.
* ``registry`` - ``RegistryClient``: manifests, blobs, referrers; retries; digest checks.
* ``engine`` - a Docker Engine API client (``DOCKER_HOST``): inspect, export (``docker save``).
* ``sources`` - ``open_image`` → ``ImageSource`` (subject, scan target, config, layers).
* ``passwd`` - ``read_user_files``: /etc/passwd and /etc/group as the layers show them.

Nothing here imports ``requests`` at module level.
"""
