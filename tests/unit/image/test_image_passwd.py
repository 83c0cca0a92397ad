"""Reading the image's effective /etc/passwd and /etc/group, layer by layer, in one walk."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc

import pytest

from gate.errors import ImageSourceError
from gate.image.passwd import read_user_files
from gate.image.sources.interface import Layer
from gate.oci.digests import VerifyingReader, compute
from tests.support import oci
from tests.support.rootfs import APP_PASSWD, ROOT_PASSWD
from tests.support.users import lookup_user


def _layer(blob: bytes, opened: list[str] | None = None, *, digest: str | None = None) -> Layer:
    """A Layer over in-memory bytes, verified like a registry blob; records when it is opened."""
    expected = digest or compute(blob)

    def opener() -> VerifyingReader:
        if opened is not None:
            opened.append(expected)
        chunks = iter([blob[i : i + 4096] for i in range(0, len(blob), 4096)])
        return VerifyingReader(chunks, expected, what="test layer", error=ImageSourceError)

    return Layer(expected, len(blob), oci.OCI_LAYER_GZIP, opener)


def _tar(entries: list[tarfile.TarInfo | tuple[str, bytes]], *, gz: bool = True) -> bytes:
    """A layer tar with entries in exactly the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return gzip.compress(buf.getvalue(), mtime=0) if gz else buf.getvalue()


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _passwd_layer(text: str) -> bytes:
    return oci.layer({"etc/passwd": text.encode()})


def test_a_named_user_resolves_to_its_uid_and_layer() -> None:
    layer = _layer(_passwd_layer(APP_PASSWD))
    result = lookup_user("app", [layer])
    assert (result.uid, result.layer, result.reason) == (1000, layer.digest, "")


def test_a_name_mapping_to_uid_0_is_found_as_0() -> None:
    text = ROOT_PASSWD + "toor:x:0:0::/root:/bin/sh\n"
    assert lookup_user("toor", [_layer(_passwd_layer(text))]).uid == 0


def test_an_absent_name_has_no_uid() -> None:
    assert lookup_user("ghost", [_layer(_passwd_layer(APP_PASSWD))]).uid is None


def test_an_image_without_passwd_has_no_uid() -> None:
    result = lookup_user("app", [_layer(oci.layer({"bin/app": b"\x7fELF"}))])
    assert (result.uid, result.layer, result.reason) == (None, None, "the image has no /etc/passwd")


def test_the_last_layer_with_passwd_wins() -> None:
    lower = _layer(_passwd_layer("app:x:0:0::/:/bin/sh\n"))
    upper = _layer(_passwd_layer("app:x:1000:1000::/:/bin/sh\n"))
    result = lookup_user("app", [lower, upper])
    assert (result.uid, result.layer) == (1000, upper.digest)


def test_layers_below_the_deciding_layer_are_never_opened() -> None:
    opened: list[str] = []
    base = _layer(_passwd_layer("app:x:0:0::/:/bin/sh\n"), opened)
    users = _layer(oci.layer({"etc/passwd": APP_PASSWD.encode(), "etc/group": b""}), opened)
    app = _layer(oci.layer({"srv/app.py": b"print()\n"}), opened)
    assert lookup_user("app", [base, users, app]).uid == 1000
    assert opened == [app.digest, users.digest]


def test_passwd_and_group_are_decided_by_their_own_layers_in_one_walk() -> None:
    opened: list[str] = []
    base = _layer(oci.layer({"etc/group": b"app:x:1:\n", "etc/passwd": b"x"}), opened)
    users = _layer(_passwd_layer(APP_PASSWD), opened)
    files = read_user_files([base, users])
    assert (files.passwd.content, files.passwd.layer) == (APP_PASSWD.encode(), users.digest)
    assert (files.group.content, files.group.layer) == (b"app:x:1:\n", base.digest)
    assert opened == [users.digest, base.digest]


def test_a_whiteout_of_etc_deletes_both_files_which_then_do_not_exist() -> None:
    lower = _layer(oci.layer({"etc/passwd": APP_PASSWD.encode(), "etc/group": b"g:x:1:\n"}))
    upper = _layer(oci.layer({}, whiteouts=["etc"]))
    files = read_user_files([lower, upper])
    for file in (files.passwd, files.group):
        # Deleted is absent, as GetExecUserPath sees it (a nil reader), not unreadable.
        assert (file.content, file.readable, file.layer) == (None, True, upper.digest)
    assert files.group.reason == "/etc/group is deleted (whiteout /.wh.etc)"


def test_an_image_without_the_files_reads_them_as_absent() -> None:
    files = read_user_files([_layer(oci.layer({"bin/app": b"\x7fELF"}))])
    assert (files.group.content, files.group.readable) == (None, True)
    assert files.group.reason == "the image has no /etc/group"


def test_a_whiteout_deletes_passwd_from_lower_layers() -> None:
    lower = _layer(_passwd_layer(APP_PASSWD))
    upper = _layer(oci.layer({}, whiteouts=["etc/passwd"]))
    result = lookup_user("app", [lower, upper])
    assert result.uid is None
    assert result.layer == upper.digest
    assert "deleted (whiteout /etc/.wh.passwd)" in result.reason


def test_a_whiteout_of_etc_deletes_passwd() -> None:
    upper = _layer(oci.layer({}, whiteouts=["etc"]))
    result = lookup_user("app", [_layer(_passwd_layer(APP_PASSWD)), upper])
    assert result.uid is None and "/.wh.etc" in result.reason


def test_an_opaque_etc_hides_the_lower_passwd() -> None:
    upper = _layer(oci.layer({"etc/hostname": b"x\n"}, opaque_dirs=["etc"]))
    result = lookup_user("app", [_layer(_passwd_layer(APP_PASSWD)), upper])
    assert result.uid is None and "etc/.wh..wh..opq" in result.reason


def test_an_opaque_etc_with_its_own_passwd_shows_the_new_one() -> None:
    upper = _layer(oci.layer({"etc/passwd": b"app:x:2000:2000::/:/bin/sh\n"}, opaque_dirs=["etc"]))
    lower = _layer(_passwd_layer(APP_PASSWD))
    assert lookup_user("app", [lower, upper]).uid == 2000


def test_a_whiteout_after_the_file_in_the_same_layer_does_not_delete_it() -> None:
    # image-spec: whiteouts apply to lower layers only, whatever the tar order.
    upper = _layer(_tar([("etc/passwd", b"app:x:3000:3000::/:/bin/sh\n"), ("etc/.wh.passwd", b"")]))
    lower = _layer(_passwd_layer(APP_PASSWD))
    assert lookup_user("app", [lower, upper]).uid == 3000


def test_a_second_passwd_entry_in_one_layer_replaces_the_first() -> None:
    # Extraction applies entries in tar order: the container sees the last one.
    layer = _layer(
        _tar(
            [
                ("etc/passwd", b"app:x:1000:1000::/:/bin/sh\n"),
                ("etc/passwd", b"app:x:0:0::/:/bin/sh\n"),
            ]
        )
    )
    assert lookup_user("app", [layer]).uid == 0


def test_a_symlink_replacing_passwd_later_in_the_layer_gives_no_uid() -> None:
    layer = _layer(
        _tar(
            [
                ("etc/passwd", APP_PASSWD.encode()),
                _link("etc/passwd", "../tmp/passwd", tarfile.SYMTYPE),
            ]
        )
    )
    result = lookup_user("app", [layer])
    assert result.uid is None and "symbolic link to ../tmp/passwd" in result.reason


def test_etc_replaced_by_a_non_directory_in_the_deciding_layer_gives_no_uid() -> None:
    layer = _layer(_tar([("etc/passwd", APP_PASSWD.encode()), ("etc", b"not a directory")]))
    result = lookup_user("app", [layer])
    assert result.uid is None and "/etc is not a directory" in result.reason


def test_uncompressed_layers_and_dot_slash_names_are_read() -> None:
    layer = _layer(_tar([("./etc/passwd", APP_PASSWD.encode())], gz=False))
    assert lookup_user("app", [layer]).uid == 1000


def test_a_symlinked_passwd_is_not_followed_and_gives_no_uid() -> None:
    layer = _layer(_tar([_link("etc/passwd", "../usr/share/passwd", tarfile.SYMTYPE)]))
    result = lookup_user("app", [_layer(_passwd_layer(APP_PASSWD)), layer])
    assert result.uid is None
    assert "symbolic link to ../usr/share/passwd" in result.reason


def test_a_hard_linked_passwd_gives_no_uid() -> None:
    layer = _layer(
        _tar(
            [
                ("usr/passwd", APP_PASSWD.encode()),
                _link("etc/passwd", "usr/passwd", tarfile.LNKTYPE),
            ]
        )
    )
    result = lookup_user("app", [layer])
    assert result.uid is None and "hard link to /usr/passwd" in result.reason


def test_a_layer_that_does_not_match_its_digest_is_an_error_even_after_passwd() -> None:
    blob = _passwd_layer(APP_PASSWD)
    tampered = _layer(blob, digest=compute(blob + b"x"))
    with pytest.raises(ImageSourceError, match="digest mismatch for test layer"):
        lookup_user("app", [tampered])


def test_a_zstd_layer_is_an_error_not_a_guess() -> None:
    with pytest.raises(ImageSourceError, match="zstd"):
        lookup_user("app", [_layer(b"\x28\xb5\x2f\xfd" + b"\0" * 64)])


def test_a_garbage_layer_is_an_error() -> None:
    with pytest.raises(ImageSourceError, match="not a readable tar"):
        lookup_user("app", [_layer(b"\x1f\x8b\x08\x00 definitely not gzip")])


def test_a_truncated_layer_is_an_error() -> None:
    blob = oci.layer({"etc/other": b"x" * 50_000, "etc/passwd": APP_PASSWD.encode()})
    with pytest.raises(ImageSourceError, match="not a readable tar"):
        lookup_user("app", [_layer(blob[: len(blob) // 2])])


def test_big_layers_are_streamed_not_held_in_memory() -> None:
    payload = b"\0" * (40 * 1024 * 1024)  # 40 MiB uncompressed, ~40 KiB gzip'd
    blob = oci.layer({"etc/passwd": APP_PASSWD.encode(), "opt/big.bin": payload})
    del payload
    layer = _layer(blob)
    tracemalloc.start()
    try:
        result = lookup_user("app", [layer])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.uid == 1000
    # The deciding layer is walked to its end, never held: what is in memory at once is
    # one read inflated (zeros inflate ~1000:1), a fraction of the 40 MiB.
    assert peak < 12 * 1024 * 1024
