#!/usr/bin/env python3
"""No AVX outside cpp/kernels/<isa>/: check the compiled objects' disassembly.

Builds the CMake project in a temporary directory (or scans an existing build with
--build-dir), disassembles every object file with ``objdump -d --no-show-raw-insn`` and
checks each against the tier of the directory its source is in:

* baseline (cpp/src/, cpp/bindings/, cpp/kernels/scalar/, anything else): no VEX/EVEX
  instruction at all: no ``v``-prefixed SSE/AVX mnemonic (vmovups, vfmadd231ps,
  vbroadcastss, vzeroupper, ...), no %ymm/%zmm register, no %k mask register, no
  xmm16-31, no VEX-encoded BMI1/BMI2 integer instruction (andn, shlx, ...).
  SSE/SSE2 (x86-64 baseline: movups, mulss, pause, ...) is fine.
* avx2 (cpp/kernels/avx2/): no AVX-512: no %zmm, no %k mask register, no xmm16-31 or
  ymm16-31, no ``{%k}`` masking, no BMI1/BMI2 (the runtime check is AVX2 + FMA only).
* avx512 (cpp/kernels/avx512/): anything.

It also checks the hazard that per-object scanning alone misses: an inline function
(a libstdc++ template, a header helper) emitted as a weak symbol into an ISA object is
merged by the linker with the same symbol from other objects, and the copy kept may be
the ISA one, so baseline code would call AVX code. Every weak function symbol whose
code breaks a lower tier's rules must not be defined in an object of that tier; and in
the linked module (when it has its symbol table) every function with code beyond SSE2
must come from an object whose tier allows that code.

pybind11_add_module compiles the bindings with -flto -fno-fat-lto-objects, so in a
normal build cpp/bindings/module.cpp.o holds GCC IR, not machine code. The build this
script makes itself therefore sets CMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF (pybind11 then
adds no LTO flags; every other flag is the shipped build's) and CMAKE_STRIP=true (the
module keeps its symbols for the linked check), and is strict: an object it cannot
check is a failure. With --build-dir, such objects are reported as unchecked unless
--strict is given.

Stdlib only, plus objdump and nm from binutils; cmake and pybind11 to build.
Exit status 0 when everything holds, 1 otherwise. Prints a per-object summary.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The tiers, lowest first; each object's tier comes from its source directory.
BASELINE, AVX2, AVX512 = "baseline", "avx2", "avx512"
TIER_ORDER = (BASELINE, AVX2, AVX512)

# v-mnemonics that are not SSE/AVX: VMX and SVM virtualisation, verr/verw.
NON_AVX_V = {
    "verr", "verw", "vmcall", "vmlaunch", "vmresume", "vmxoff", "vmxon", "vmread",
    "vmwrite", "vmptrld", "vmptrst", "vmclear", "vmfunc", "vmrun", "vmload", "vmsave",
    "vmmcall", "vmgexit",
}
# VEX-encoded general-purpose instructions (BMI1, BMI2): not implied by -mavx2 -mfma.
BMI = ("andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep", "pext", "rorx",
       "sarx", "shlx", "shrx")
BMI_RE = re.compile(r"^(?:%s)[lq]?$" % "|".join(BMI))
# Instruction prefixes objdump prints before the mnemonic.
PREFIXES = {"lock", "rep", "repz", "repe", "repnz", "repne", "notrack", "bnd", "data16",
            "addr32", "cs", "ds", "es", "fs", "gs", "ss", "rex", "rex.w", "xacquire",
            "xrelease"}

YMM_RE = re.compile(r"%ymm\d+")
ZMM_RE = re.compile(r"%zmm\d+")
KREG_RE = re.compile(r"%k[0-7]\b")
HIGH_XY_RE = re.compile(r"%[xy]mm(?:1[6-9]|2\d|3[01])\b")  # EVEX-only registers
MASKING_RE = re.compile(r"\{%k[0-7]\}")

INSN_RE = re.compile(r"^\s*[0-9a-f]+:\t(.*)$")
SYMBOL_RE = re.compile(r"^[0-9a-f]+ <(.+)>:$")


def mnemonic(insn: str) -> str:
    """The mnemonic of one disassembled instruction, prefixes dropped."""
    for tok in insn.split():
        if tok.startswith("{") or tok.rstrip(",") in PREFIXES:
            continue
        return tok
    return ""


def features(insn: str) -> set[str]:
    """What an instruction uses beyond x86-64 baseline (SSE2), as feature tags.

    Tags: 'avx' (a VEX/EVEX v-mnemonic), 'ymm', 'zmm', 'kreg' (%k0-7 or {%k} masking),
    'evex-reg' (xmm16-31, ymm16-31), 'bmi' (BMI1/BMI2).
    """
    tags = set()
    m = mnemonic(insn)
    if m.startswith("v") and m not in NON_AVX_V:
        tags.add("avx")
    if m.startswith("k") and KREG_RE.search(insn):  # kmovw, kortestw, ...
        tags.add("kreg")
    if BMI_RE.match(m):
        tags.add("bmi")
    if YMM_RE.search(insn):
        tags.add("ymm")
    if ZMM_RE.search(insn):
        tags.add("zmm")
    if KREG_RE.search(insn) or MASKING_RE.search(insn):
        tags.add("kreg")
    if HIGH_XY_RE.search(insn):
        tags.add("evex-reg")
    return tags


# What each tier forbids.
FORBIDDEN = {
    BASELINE: {"avx", "ymm", "zmm", "kreg", "evex-reg", "bmi"},
    AVX2: {"zmm", "kreg", "evex-reg", "bmi"},
    AVX512: set(),
}


def violations(insn: str, tier: str) -> set[str]:
    """The feature tags of ``insn`` that ``tier`` forbids (empty: allowed)."""
    return features(insn) & FORBIDDEN[tier]


def tier_of(source: str) -> str:
    """The tier of a source path relative to the project root."""
    source = source.replace(os.sep, "/")
    if source.startswith("cpp/kernels/avx512/"):
        return AVX512
    if source.startswith("cpp/kernels/avx2/"):
        return AVX2
    return BASELINE  # cpp/src/, cpp/bindings/, cpp/kernels/scalar/ and anything new


@dataclass
class ObjectReport:
    source: str
    path: Path
    tier: str
    instructions: int = 0
    tag_counts: dict = field(default_factory=dict)     # tag -> instruction count
    bad: list = field(default_factory=list)            # (symbol, insn, tags) that break the tier
    symbol_tags: dict = field(default_factory=dict)    # symbol -> set of tags in its code
    weak: set = field(default_factory=set)             # weak function symbols defined here
    defined: set = field(default_factory=set)          # every function symbol defined here
    lto_ir_only: bool = False                          # slim LTO object: no machine code


def parse_disassembly(text: str):
    """Yield (symbol, instruction) for every instruction in objdump -d output."""
    symbol = "?"
    for line in text.splitlines():
        m = SYMBOL_RE.match(line)
        if m:
            symbol = m.group(1)
            continue
        m = INSN_RE.match(line)
        if m:
            insn = m.group(1).strip()
            if insn and not insn.startswith("(bad)"):
                yield symbol, insn


def scan_object(path: Path, source: str) -> ObjectReport:
    rep = ObjectReport(source=source, path=path, tier=tier_of(source))
    rep.lto_ir_only = is_slim_lto(path)
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)],
                         check=True, capture_output=True, text=True).stdout
    for symbol, insn in parse_disassembly(out):
        rep.instructions += 1
        tags = features(insn)
        for t in tags:
            rep.tag_counts[t] = rep.tag_counts.get(t, 0) + 1
        rep.symbol_tags.setdefault(symbol, set()).update(tags)
        bad = tags & FORBIDDEN[rep.tier]
        if bad:
            rep.bad.append((symbol, insn, bad))
    nm = subprocess.run(["nm", "--defined-only", "-P", str(path)],
                        check=True, capture_output=True, text=True).stdout
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind in "TtWw":
            rep.defined.add(name)
        if kind in "Ww":
            rep.weak.add(name)
    return rep


def is_slim_lto(path: Path) -> bool:
    """True when the object holds LTO IR (.gnu.lto_*) and no code in any .text section."""
    out = subprocess.run(["objdump", "-h", str(path)], check=True, capture_output=True,
                         text=True).stdout
    names, text_size = [], 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            names.append(parts[1])
            if parts[1].startswith(".text"):
                text_size += int(parts[2], 16)
    return any(n.startswith(".gnu.lto_") for n in names) and text_size == 0


def scan_linked(module: Path, reports):
    """Check the linked module: every function with code beyond SSE2 comes from an
    object whose tier allows that code. Returns (n functions, n with ISA code, failures)
    or None when the module has no symbol table (stripped)."""
    syms = subprocess.run(["nm", "-P", str(module)], capture_output=True, text=True)
    if syms.returncode != 0 or "no symbols" in syms.stderr or not syms.stdout.strip():
        return None
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(module)],
                         check=True, capture_output=True, text=True).stdout
    tags_by_symbol: dict = {}
    for symbol, insn in parse_disassembly(out):
        tags_by_symbol.setdefault(symbol, set()).update(features(insn))
    failures, with_isa = [], 0
    for symbol, tags in sorted(tags_by_symbol.items()):
        beyond = tags & FORBIDDEN[BASELINE]
        if not beyond:
            continue
        with_isa += 1
        name = symbol.split("@")[0]
        tiers = {r.tier for r in reports if name in r.defined}
        if not tiers:
            failures.append(f"{symbol}: {sorted(beyond)} code, defined by none of the "
                            f"project's objects")
            continue
        lowest = min(tiers, key=TIER_ORDER.index)
        if tags & FORBIDDEN[lowest]:
            failures.append(f"{symbol}: {sorted(tags & FORBIDDEN[lowest])} code, but a "
                            f"{lowest} object defines it (the linker kept an ISA copy)")
    return len(tags_by_symbol), with_isa, failures


def find_objects(build_dir: Path):
    """(object path, source path relative to the project) for every object CMake built."""
    found = []
    for obj in sorted((build_dir / "CMakeFiles").glob("*.dir/**/*.o")):
        rel = obj.relative_to(build_dir / "CMakeFiles")
        source = "/".join(rel.parts[1:])       # drop '<target>.dir'
        source = source[: -len(".o")]          # cpp/src/rnn.cpp.o -> cpp/src/rnn.cpp
        if source.startswith("CMakeFiles/") or "CompilerId" in source:
            continue                            # CMake's own probe objects
        found.append((obj, source))
    return found


def odr_hazards(reports):
    """Weak functions in a higher-tier object with code a lower tier forbids, that a
    lower-tier object also defines: the linker may keep the higher-tier copy."""
    hazards = []
    for hi in reports:
        for sym in hi.weak:
            tags = hi.symbol_tags.get(sym, set())
            for lo in reports:
                if TIER_ORDER.index(lo.tier) >= TIER_ORDER.index(hi.tier):
                    continue
                if sym in lo.defined and tags & FORBIDDEN[lo.tier]:
                    hazards.append((sym, hi.source, lo.source, tags & FORBIDDEN[lo.tier]))
    return hazards


def latent_weak(reports, hazards=()):
    """Weak functions with ISA code in an ISA object that no lower tier defines (yet):
    harmless today, a hazard as soon as baseline code instantiates the same function."""
    shared = {h[0] for h in hazards}
    out = []
    for r in reports:
        if r.tier == BASELINE:
            continue
        for sym in sorted(r.weak - shared):
            if r.symbol_tags.get(sym, set()) & FORBIDDEN[BASELINE]:
                out.append((sym, r.source))
    return out


def fmt_tags(counts: dict) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def check_build(build_dir: Path, strict: bool = False, max_show: int = 10) -> bool:
    objects = find_objects(build_dir)
    if not objects:
        print(f"FAIL: no object files under {build_dir}/CMakeFiles", file=sys.stderr)
        return False
    reports = [scan_object(obj, src) for obj, src in objects]
    ok = True
    tiers_seen = {r.tier for r in reports}
    print(f"{'object source':<40} {'tier':<9} {'insns':>7}  result   "
          "beyond-SSE2 instructions by tag")
    for r in reports:
        status = "ok" if not r.bad else f"FAIL {len(r.bad)}"
        if r.lto_ir_only:
            status = "FAIL" if strict else "unchecked"
            ok = ok and not strict
            print(f"{r.source:<40} {r.tier:<9} {'-':>7}  {status:<8} LTO IR only, no machine "
                  f"code (configure with -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF)")
            continue
        print(f"{r.source:<40} {r.tier:<9} {r.instructions:>7}  {status:<8} "
              f"{fmt_tags(r.tag_counts)}")
        if r.bad:
            ok = False
            for symbol, insn, tags in r.bad[:max_show]:
                print(f"    {sorted(tags)}  {insn}    in {symbol}")
            if len(r.bad) > max_show:
                print(f"    ... {len(r.bad) - max_show} more")
    if BASELINE not in tiers_seen:
        print("FAIL: no baseline objects found (cpp/src, cpp/bindings)", file=sys.stderr)
        ok = False
    hazards = odr_hazards(reports)
    for sym, hi, lo, tags in hazards:
        print(f"FAIL: weak symbol {sym} has {sorted(tags)} code in {hi} and is also defined "
              f"in {lo}: the linker may keep the ISA copy for the lower tier")
        ok = False
    latent = latent_weak(reports, hazards)
    n_shared = len({h[0] for h in hazards})
    print(f"weak functions with ISA code in ISA objects: {len(latent) + n_shared}; "
          f"shared with a lower-tier object: {n_shared}")
    for sym, src in latent[:max_show]:
        print(f"    note: {sym} in {src} (not defined by any lower-tier object)")
    modules = sorted(build_dir.glob("_core*.so"))
    if not modules:
        print("linked module: none found" + (" (FAIL)" if strict else ""))
        ok = ok and not strict
    for module in modules:
        linked = scan_linked(module, reports)
        if linked is None:
            print(f"linked module {module.name}: stripped, not checked" +
                  (" (FAIL)" if strict else " (configure with -DCMAKE_STRIP=true to check it)"))
            ok = ok and not strict
            continue
        n, with_isa, failures = linked
        print(f"linked module {module.name}: {n} functions, {with_isa} with code beyond SSE2, "
              f"{with_isa - len(failures)} of them from an object whose tier allows it"
              + ("" if not failures else f"; FAIL {len(failures)}"))
        for f in failures[:max_show]:
            print(f"    {f}")
        ok = ok and not failures
    print("check_isa_flags: " + ("OK" if ok else "FAILED"))
    return ok


def configure_and_build(source: Path, build_dir: Path) -> None:
    try:
        pybind11_dir = subprocess.run(
            [sys.executable, "-m", "pybind11", "--cmakedir"],
            check=True, capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise SystemExit(f"check_isa_flags: pybind11 is needed to configure "
                         f"(pip install pybind11): {exc}") from exc
    cmd = ["cmake", "-S", str(source), "-B", str(build_dir),
           "-DSKBUILD=ON", "-DSKBUILD_PROJECT_NAME=gatedrnn", "-DSKBUILD_PROJECT_VERSION=0.1.0",
           f"-Dpybind11_DIR={pybind11_dir}", "-DCMAKE_BUILD_TYPE=Release",
           f"-DPython_EXECUTABLE={sys.executable}",
           # Machine code in every object, symbols in the module (see the docstring).
           "-DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF",
           f"-DCMAKE_STRIP={shutil.which('true') or '/bin/true'}"]
    if shutil.which("ninja"):
        cmd[1:1] = ["-G", "Ninja"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build_dir), "--parallel", str(os.cpu_count() or 2)],
                   check=True, stdout=subprocess.DEVNULL)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", type=Path,
                    help="scan this existing CMake build instead of building one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary build")
    ap.add_argument("--strict", action="store_true",
                    help="with --build-dir: fail on LTO-IR objects and a stripped module")
    args = ap.parse_args(argv)
    for tool in ("objdump", "nm"):
        if not shutil.which(tool):
            print(f"check_isa_flags: {tool} not found (binutils)", file=sys.stderr)
            return 2
    if args.build_dir is not None:
        return 0 if check_build(args.build_dir, strict=args.strict) else 1
    tmp = Path(tempfile.mkdtemp(prefix="gatedrnn-isa-"))
    try:
        print(f"building in {tmp} ...", flush=True)
        configure_and_build(ROOT, tmp)
        return 0 if check_build(tmp, strict=True) else 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
