"""utoe: what a neural network costs on a microcontroller.

The package holds every stage as plain functions (codegen, app rendering,
firmware build, run, measure, report); SCons (site_scons/) wires them into a
build with dependency tracking, but nothing here imports SCons.
"""

__version__ = "0.1.0"
