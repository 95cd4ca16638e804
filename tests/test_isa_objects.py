"""No AVX outside cpp/kernels/<isa>/ (.ci/check_isa_flags.py).

* The instruction classifier on disassembly lines (always; pure Python).
* The checker on two tiny objects compiled here, one of them with -mavx2, so it is seen
  to fail on real compiler output (x86-64 with g++ and binutils; well under a second).
* The checker on a real build when GATEDRNN_BUILD_DIR names a CMake build directory
  (skipped otherwise; the full check, with its own build, is `.ci/check_isa_flags.py`).
"""

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "check_isa_flags.py"
if not SCRIPT.exists():
    pytest.skip(f"{SCRIPT} not found (tests run outside the source tree)", allow_module_level=True)


def _load():
    spec = importlib.util.spec_from_file_location("check_isa_flags", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


cif = _load()

BASELINE_OK = [
    "push   %rbp",
    "movups (%rsi),%xmm0",
    "mulss  %xmm1,%xmm0",
    "xorps  %xmm0,%xmm0",
    "cvtsi2ss %eax,%xmm0",
    "pause",
    "lock xadd %eax,(%rdx)",
    "rep stos %rax,%es:(%rdi)",
    "tzcnt  %eax,%eax",          # objdump's name for `rep bsf`, which GCC emits on any CPU
    "call   10 <_Z3foov>",
]
AVX2_ONLY = [  # fine in avx2 objects, not in baseline ones
    "vmovups (%rsi),%ymm0",
    "vfmadd231ps %ymm2,%ymm1,%ymm0",
    "vbroadcastss (%rax),%ymm3",
    "vxorps %xmm0,%xmm0,%xmm0",   # VEX on xmm only: still AVX
    "vzeroupper",
    "vcvtss2sd %xmm0,%xmm0,%xmm0",
]
AVX512_ONLY = [  # fine in avx512 objects only
    "vmovups (%rsi),%zmm0",
    "vfmadd231ps %zmm2,%zmm1,%zmm0",
    "kmovw  %k1,%eax",
    "vmovaps %ymm0,%ymm1{%k1}{z}",
    "vaddps %xmm17,%xmm0,%xmm0",
    "vpternlogd $0xff,%ymm20,%ymm20,%ymm20",
]
BMI = ["shlx   %rax,%rdx,%rcx", "andn   %eax,%ecx,%edx", "bzhi   %eax,%ecx,%edx"]


@pytest.mark.parametrize("insn", BASELINE_OK)
def test_baseline_instructions_allowed_everywhere(insn):
    for tier in cif.TIER_ORDER:
        assert cif.violations(insn, tier) == set(), (insn, tier)


@pytest.mark.parametrize("insn", AVX2_ONLY)
def test_avx_instructions_only_in_isa_objects(insn):
    assert cif.violations(insn, cif.BASELINE), insn
    assert cif.violations(insn, cif.AVX2) == set(), insn
    assert cif.violations(insn, cif.AVX512) == set(), insn


@pytest.mark.parametrize("insn", AVX512_ONLY)
def test_avx512_instructions_only_in_avx512_objects(insn):
    assert cif.violations(insn, cif.BASELINE), insn
    assert cif.violations(insn, cif.AVX2), insn
    assert cif.violations(insn, cif.AVX512) == set(), insn


@pytest.mark.parametrize("insn", BMI)
def test_bmi_is_not_in_the_avx2_check(insn):
    assert "bmi" in cif.violations(insn, cif.BASELINE)
    assert "bmi" in cif.violations(insn, cif.AVX2)


def test_tiers_follow_source_directories():
    assert cif.tier_of("cpp/src/rnn.cpp") == cif.BASELINE
    assert cif.tier_of("cpp/bindings/module.cpp") == cif.BASELINE
    assert cif.tier_of("cpp/kernels/scalar/kernels_scalar.cpp") == cif.BASELINE
    assert cif.tier_of("cpp/kernels/avx2/kernels_avx2.cpp") == cif.AVX2
    assert cif.tier_of("cpp/kernels/avx512/kernels_avx512.cpp") == cif.AVX512
    assert cif.tier_of("cpp/somewhere_new/x.cpp") == cif.BASELINE


def test_parse_disassembly_attributes_instructions_to_symbols():
    text = (
        "x.o:     file format elf64-x86-64\n\nDisassembly of section .text:\n\n"
        "0000000000000000 <_Z1fv>:\n   0:\tvmovups %ymm0,(%rdi)\n   4:\tret\n\n"
        "0000000000000010 <_Z1gv>:\n  10:\tpause\n  12:\tret\n"
    )
    got = list(cif.parse_disassembly(text))
    assert got == [("_Z1fv", "vmovups %ymm0,(%rdi)"), ("_Z1fv", "ret"),
                   ("_Z1gv", "pause"), ("_Z1gv", "ret")]


needs_toolchain = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64")
    or not all(shutil.which(t) for t in ("g++", "objdump", "nm")),
    reason="needs x86-64, g++ and binutils",
)

SHARED_H = """
inline void axpy(float a, const float* x, float* y, int n) {
    for (int i = 0; i < n; ++i) y[i] += a * x[i];
}
"""


def _fake_build(tmp_path, base_flags=(), share_inline=True):
    """A directory laid out like a CMake build: one baseline object, one avx2 object
    and a module linked from them."""
    (tmp_path / "shared.h").write_text(SHARED_H)
    (tmp_path / "base.cpp").write_text(
        '#include "shared.h"\n'
        + ("void base_entry(float* y, const float* x, int n) { axpy(2.0f, x, y, n); }\n"
           if share_inline else
           "void base_entry(float* y, const float* x, int n) { for (int i = 0; i < n; ++i)"
           " y[i] += x[i]; }\n"))
    (tmp_path / "avx.cpp").write_text(
        '#include "shared.h"\n'
        "void avx_entry(float* y, const float* x, int n) { axpy(3.0f, x, y, n); }\n")
    build = tmp_path / "build"
    base_o = build / "CMakeFiles/core.dir/cpp/src/base.cpp.o"
    avx_o = build / "CMakeFiles/k.dir/cpp/kernels/avx2/avx.cpp.o"
    for o in (base_o, avx_o):
        o.parent.mkdir(parents=True)
    cxx = ["g++", "-O3", "-fPIC", "-fno-inline", "-c", "-I", str(tmp_path)]
    subprocess.run([*cxx, *base_flags, str(tmp_path / "base.cpp"), "-o", str(base_o)], check=True)
    subprocess.run([*cxx, "-mavx2", "-mfma", str(tmp_path / "avx.cpp"), "-o", str(avx_o)],
                   check=True)
    # The avx2 object first: the linker keeps its copy of a shared weak symbol.
    subprocess.run(["g++", "-shared", "-o", str(build / "_core.so"), str(avx_o), str(base_o)],
                   check=True)
    return build


@needs_toolchain
def test_checker_passes_a_clean_build(tmp_path, capsys):
    build = _fake_build(tmp_path, share_inline=False)
    assert cif.check_build(build, strict=True), capsys.readouterr().out


@needs_toolchain
def test_checker_fails_on_avx_in_a_baseline_object(tmp_path, capsys):
    build = _fake_build(tmp_path, base_flags=("-mavx2",), share_inline=False)
    assert not cif.check_build(build, strict=True)
    out = capsys.readouterr().out
    assert "cpp/src/base.cpp" in out and "FAIL" in out


@needs_toolchain
def test_checker_fails_on_an_isa_copy_of_a_shared_inline_function(tmp_path, capsys):
    build = _fake_build(tmp_path, share_inline=True)
    assert not cif.check_build(build, strict=True)
    out = capsys.readouterr().out
    assert "weak symbol _Z4axpyfPKfPfi" in out
    assert "the linker kept an ISA copy" in out


def test_built_objects_have_no_avx_outside_the_isa_kernels():
    env = os.environ.get("GATEDRNN_BUILD_DIR")
    if not env:
        pytest.skip("set GATEDRNN_BUILD_DIR to a CMake build directory to check its objects")
    build = Path(env)
    if not (build / "CMakeCache.txt").is_file() or not (build / "CMakeFiles").is_dir():
        pytest.skip(f"GATEDRNN_BUILD_DIR={build} is not an existing CMake build directory")
    r = subprocess.run([sys.executable, str(SCRIPT), "--build-dir", str(build)],
                       capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
