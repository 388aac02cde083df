"""python -m smpp_utils.data.sim: write SMPD-Sim files in the official format."""

from . import main

main()
