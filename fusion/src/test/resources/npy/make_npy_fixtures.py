"""Writes the reference .npy/.npz fixtures read by org.onnxfuse.fusion.data tests.

Run with a Python that has numpy (here: Debian's /usr/bin/python3, numpy 1.24):
    /usr/bin/python3 make_npy_fixtures.py
from this folder. Tests only read the files; the expected values are the formulas below,
repeated in NumpyFixturesTest.
"""
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(here, name)


def main():
    # float32, C order: value(i, j) = 0.5 * (4 * i + j) - 1
    f32 = (np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5 - 1).astype(np.float32)
    np.save(path("f32_c.npy"), f32)

    # float64, Fortran order, 3-D: value(i, j, k) = 1.25 * (12 * i + 4 * j + k)
    f64 = np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 1.25)
    assert f64.flags.f_contiguous and not f64.flags.c_contiguous
    np.save(path("f64_fortran.npy"), f64)

    # float16 specials: zeros, normals, extremes, subnormals, infinities, NaN
    f16 = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 2.0 ** -14, 2.0 ** -24, 3 * 2.0 ** -24,
                    1023 * 2.0 ** -24, np.inf, -np.inf, np.nan], dtype=np.float16).reshape(3, 4)
    np.save(path("f16_special.npy"), f16)

    # uint8: value(i, j, k) = (37 * (6 * i + 3 * j + k)) % 256
    u8 = ((np.arange(12).reshape(2, 2, 3) * 37) % 256).astype(np.uint8)
    np.save(path("u8.npy"), u8)

    # int64 labels, including values a float32 cannot hold exactly
    labels = np.array([0, 1, 2, 9, -1, 2 ** 40 + 3, 7], dtype=np.int64)
    np.save(path("labels_i64.npy"), labels)
    np.save(path("labels_i32.npy"), np.array([3, 1, 4, 1, 5], dtype=np.int32))

    # big-endian float64, Fortran order 2-D: value(i, j) = i - 0.25 * j
    be = np.asfortranarray((np.arange(3)[:, None] - 0.25 * np.arange(2)[None, :]).astype(">f8"))
    np.save(path("f64_big_endian.npy"), be)

    # header versions 2.0 and 3.0 forced (numpy picks 1.0 whenever the header fits)
    for major in (2, 3):
        with open(path("f32_v%d.npy" % major), "wb") as f:
            np.lib.format.write_array(f, f32, version=(major, 0))

    # npz: the same three arrays, stored and deflate-compressed
    x = (np.arange(12, dtype=np.float32).reshape(4, 3) / 8).astype(np.float32)
    y = np.array([1, 0, 3, 2], dtype=np.int64)
    z = np.asfortranarray(np.arange(24, dtype=np.float64).reshape(4, 2, 3) - 10)
    np.savez(path("stored.npz"), x=x, y=y, z=z)
    np.savez_compressed(path("compressed.npz"), x=x, y=y, z=z)

    # arrays the reader must refuse with a clear message
    np.save(path("complex64.npy"), np.array([1 + 2j, 3 - 4j], dtype=np.complex64))
    np.save(path("unicode.npy"), np.array(["abc", "de"], dtype="<U3"))
    np.save(path("object.npy"), np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(path("structured.npy"), np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]))


if __name__ == "__main__":
    main()
