# shellcheck shell=bash
# The recipe of the scripts that build Go tools from a Go module under hack/ into a cache
# directory (hack/{controlplane,helm,monitoring,release/tools}/build.sh). Sourced, not run; the
# script keeps what is its own (module, ldflags, outputs, output directory, what it prints):
#
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   # shellcheck source=SCRIPTDIR/../lib/gobuild.sh
#   . "$here/../lib/gobuild.sh"
#   gobuild::find_go                                    # sets $go
#   stamp=$(gobuild::stamp "$here" go.mod go.sum build.sh)
#   build() { (cd "$here" && "$go" build -trimpath -buildvcs=false -o "$1/" ./cmd/tool); }
#   gobuild::run "$out" "$stamp" "tool $version" build tool
#   echo "$out/tool"
#
# Messages go to stderr, prefixed with the script's name; nothing here writes to stdout.

# The prefix of the messages: the running script's file name (build.sh).
gobuild_me=${0##*/}
# This file, by absolute path: the stamp covers it, so a change to the recipe rebuilds.
gobuild_lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

# gobuild::find_go: sets go to the Go command (PATH, else /usr/local/go/bin/go) or exits.
# Exports GOTOOLCHAIN=local, so that go.mod's `go` line never triggers a toolchain download,
# and CGO_ENABLED=0: static binaries (no C compiler needed), as upstream releases are.
gobuild::find_go() {
  go=$(command -v go || true)
  [[ -n $go ]] || go=/usr/local/go/bin/go
  [[ -x $go ]] || { echo "$gobuild_me: Go not found (PATH or /usr/local/go/bin)" >&2; exit 1; }
  export GOTOOLCHAIN=local CGO_ENABLED=0
}

# gobuild::stamp DIR FILE...: prints the hash of what the build depends on: the Go toolchain
# (version, OS, architecture), the FILEs (relative to DIR, or absolute: go.mod, go.sum, the
# script), this library and every .go file under DIR.
gobuild::stamp() {
  local dir=$1
  shift
  (
    cd "$dir" || exit
    { "$go" env GOVERSION GOOS GOARCH; cat "$@" "$gobuild_lib"
      find . -name '*.go' -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -d' ' -f1
  )
}

# gobuild::run OUT STAMP WHAT BUILD BINARY... [-- FILE...]: makes OUT hold the outputs, paths
# relative to OUT: the BINARYs (executables) and FILEs (data). Holds a lock on OUT/.lock for the
# rest of the script, so concurrent callers (e.g. two test binaries starting at once) wait for
# each other. Up to date when OUT/.stamp is STAMP and every output is there: returns at once.
# Otherwise says "building WHAT", calls BUILD TMP (a function writing the outputs under the
# fresh directory TMP, in OUT and removed at exit), moves them into OUT and stores STAMP.
gobuild::run() {
  local out=$1 stamp=$2 what=$3 build=$4 bins=() files=() path
  shift 4
  while (($# > 0)) && [[ $1 != -- ]]; do bins+=("$1"); shift; done
  (($# == 0)) || { shift; files=("$@"); }

  mkdir -p "$out"
  exec 9>"$out/.lock"
  command -v flock >/dev/null && flock 9
  if gobuild::up_to_date "$out" "$stamp" "${#bins[@]}" "${bins[@]}" "${files[@]}"; then
    return 0
  fi

  echo "$gobuild_me: building $what into $out ..." >&2
  gobuild_tmp=$(mktemp -d "$out/.build.XXXXXX")
  trap 'rm -rf "$gobuild_tmp"' EXIT
  "$build" "$gobuild_tmp"
  for path in "${bins[@]}" "${files[@]}"; do
    mkdir -p "$(dirname "$out/$path")"
    mv -f "$gobuild_tmp/$path" "$out/$path"
  done
  echo "$stamp" >"$out/.stamp"
}

# gobuild::up_to_date OUT STAMP N PATH...: whether OUT/.stamp is STAMP, the first N PATHs
# (relative to OUT) are executables and the others files.
gobuild::up_to_date() {
  local out=$1 stamp=$2 n=$3 path
  shift 3
  [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]] || return 1
  for path in "$@"; do
    if ((n-- > 0)); then [[ -x $out/$path ]] || return 1; else [[ -f $out/$path ]] || return 1; fi
  done
}
