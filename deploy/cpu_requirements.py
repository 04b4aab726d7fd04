"""requirements.txt minus the CUDA torch stack -> requirements-cpu.txt (for the CPU container image).

The CPU image installs torch and torchvision from PyTorch's CPU index first; everything else keeps its hashes.
Run by `make lock`.
"""

import re
import sys
from pathlib import Path

CUDA_STACK = re.compile(r"^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z0-9-]+)==")


def main(source: str = "requirements.txt", target: str = "requirements-cpu.txt") -> None:
    kept, skipping = [], False
    for line in Path(source).read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            skipping = bool(CUDA_STACK.match(line))
        if not skipping:
            kept.append(line)
    header = "# Generated from requirements.txt by deploy/cpu_requirements.py: the CUDA torch stack removed.\n"
    Path(target).write_text(header + "\n".join(kept) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
