#!/bin/sh
# Doxygen input filter for the public headers: they are commented with plain
# `//`, which Doxygen ignores, so this hands it `///` instead.
# The file's opening comment becomes the file's own page (@file), lines
# indented inside a comment (examples) become code blocks, and a comment
# after a member on its line becomes `///<`.
exec awk '
  function end_code() { if (code) { print indent "/// @endcode"; code = 0 } }
  BEGIN { banner = 1 }
  /^[ \t]*\/\/( |$)/ {
    if (banner == 1) { print "/// @file"; banner = 2 }
    match($0, /^[ \t]*/); indent = substr($0, 1, RLENGTH)
    if ($0 ~ /^[ \t]*\/\/   /) { if (!code) { print indent "/// @code"; code = 1 } }
    else end_code()
    sub(/\/\//, "///"); print; next
  }
  { end_code(); banner = 0 }
  /[;{][ \t]+\/\/ / && !/"/ { sub(/[ \t]+\/\/ /, " ///< "); print; next }
  { print }
' "$1"
