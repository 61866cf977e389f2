"""Write tests/fixtures/headers.json: the first bytes of image files Pillow writes, and their sizes.

    python web/scripts/make_header_fixtures.py

The app reads an image's width and height from its header to refuse one too large to decode
(src/imageHeader.ts); its unit test reads these headers and compares with the sizes Pillow wrote.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import PIL
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "headers.json"
HEAD = 2048  # bytes kept per file: every header here ends well before
# (format, save options, width, height): odd sizes so width and height cannot be swapped unseen
FILES = (
    ("PNG", {}, 6000, 5999),
    ("PNG", {}, 45, 37),
    ("GIF", {}, 301, 17),
    ("BMP", {}, 33, 1024),
    ("JPEG", {"quality": 90}, 640, 481),
    ("JPEG", {"progressive": True}, 37, 45),
    ("JPEG", {"exif": b"Exif\x00\x00" + bytes(300)}, 1203, 800),
    ("WEBP", {"lossless": True}, 5000, 3),
    ("WEBP", {"quality": 80}, 322, 200),
    ("WEBP", {"quality": 80, "exif": b"Exif\x00\x00" + bytes(64)}, 99, 1001),
)


def main() -> None:
    cases = []
    for fmt, options, width, height in FILES:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), (200, 30, 90)).save(buffer, fmt, **options)
        head = buffer.getvalue()[:HEAD]
        cases.append(
            {
                "format": fmt,
                "options": sorted(options),
                "width": width,
                "height": height,
                "head": base64.b64encode(head).decode(),
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"pillow": PIL.__version__, "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
