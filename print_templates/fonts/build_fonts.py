"""Rebuild the bundled Voucher Sans SC fonts (a developer tool, not used at run time).

The fonts shipped beside this file are subsets of Noto Sans CJK SC (SIL Open
Font License 1.1), converted from CFF to TrueType outlines because reportlab
embeds only TrueType-flavoured fonts. Run with fontTools installed::

    apt-get download fonts-noto-cjk && dpkg-deb -x fonts-noto-cjk_*.deb /tmp/noto
    python print_templates/fonts/build_fonts.py \
        --regular /tmp/noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
        --bold /tmp/noto/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc

What is kept: printable ASCII, every character of ``charset.txt`` and, for the
Regular weight only, the 3,755 GB2312 level-1 hanzi. OpenType layout tables,
hinting and vertical metrics are dropped; the family is renamed "Voucher Sans
SC" (the OFL asks modified versions not to carry the original name as their
primary name). Cubic curves become quadratic ones within 1 font unit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAMILY = "Voucher Sans SC"
SOURCE_FAMILY = "Noto Sans CJK SC"
DESCRIPTION = (
    "Subset of Noto Sans CJK SC (SIL Open Font License 1.1) made for printing "
    "prepaid electricity vouchers; CFF outlines converted to TrueType. "
    "See docs/printing.md for how it was built."
)


def charset(include_gb2312_level1: bool) -> str:
    chars: set[str] = {chr(c) for c in range(0x20, 0x7F)}
    for line in (HERE / "charset.txt").read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            continue
        chars.update(ch for ch in line if not ch.isspace())
    if include_gb2312_level1:
        chars.update(gb2312_level1())
    return "".join(sorted(chars))


def gb2312_level1() -> set[str]:
    """The 3,755 most common hanzi: GB2312 rows 16-55 (bytes 0xB0A1-0xD7F9)."""
    out: set[str] = set()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                out.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass  # row 55 ends at 0xF9
    return out


def _pick_face(collection_path: Path):
    from fontTools.ttLib import TTCollection

    for face in TTCollection(str(collection_path)).fonts:
        if face["name"].getDebugName(1) == SOURCE_FAMILY:
            return face
    raise SystemExit(f"{collection_path}: no face named {SOURCE_FAMILY!r}")


def _to_truetype(font) -> None:
    """Replace the CFF table by glyf/loca in place."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        # CFF contours run counter-clockwise, TrueType ones clockwise.
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    del font["CFF "]
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attr in (
        "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
        "maxStackElements", "maxSizeOfInstructions", "maxComponentElements",
        "maxPoints", "maxContours", "maxCompositePoints", "maxCompositeContours",
        "maxComponentDepth",
    ):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"
    font.recalcBBoxes = True


def _rename(font, style: str) -> None:
    name = font["name"]
    ps_name = FAMILY.replace(" ", "") + "-" + style
    keep = {0, 13, 14}  # copyright, license description, license URL
    name.names = [rec for rec in name.names if rec.nameID in keep]
    for name_id, value in (
        (1, FAMILY), (2, style), (3, f"{ps_name};subset"), (4, f"{FAMILY} {style}"),
        (5, "Version 1.0; subset of Noto Sans CJK SC 2.004"), (6, ps_name), (10, DESCRIPTION),
    ):
        name.setName(value, name_id, 3, 1, 0x409)
        name.setName(value, name_id, 1, 0, 0)


def build(source: Path, style: str, text: str, out: Path) -> int:
    from fontTools import subset

    font = _pick_face(source)
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.drop_tables += ["BASE", "GDEF", "GPOS", "GSUB", "VORG", "vhea", "vmtx", "DSIG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    _to_truetype(font)
    _rename(font, style)
    font.save(str(out))
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regular", type=Path, required=True, help="NotoSansCJK-Regular.ttc")
    parser.add_argument("--bold", type=Path, required=True, help="NotoSansCJK-Bold.ttc")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    for source, style, full in ((args.regular, "Regular", True), (args.bold, "Bold", False)):
        text = charset(include_gb2312_level1=full)
        out = args.out_dir / f"VoucherSansSC-{style}.ttf"
        size = build(source, style, text, out)
        print(f"{out}: {len(text)} characters, {size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
