#!/usr/bin/env bash
# Builds nginx from source archives in two flavours, for the build matrix
# (scripts/test-matrix.sh) and for reading struct layouts (scripts/nginx-layout.sh).
#
#   scripts/build-nginx.sh [SOURCE]
#
# SOURCE (default: what scripts/nginx-src.sh prints, $WHY502_NGINX_SRC or
# ../shared/nginx-src next to the repo) is a folder of nginx-VERSION.tar.gz
# archives or one such archive. Archives may be release tarballs (./configure) or
# git archives of a release tag (auto/configure).
# Each build goes to build/nginx-matrix/VERSION-FLAVOUR/ and is reused while the
# archive's sha256 and the configure line stay the same. Prints one line per build
# on stdout: "VERSION-FLAVOUR BINARY"; progress and timings go to stderr.
# $WHY502_NGINX_FLAVOURS picks flavours (default "default nginxorg");
# $WHY502_NGINX_BUILDS, if set, only these VERSION-FLAVOUR builds (test.sh's two).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
source_arg=${1:-$("$repo/scripts/nginx-src.sh")}
flavours=(${WHY502_NGINX_FLAVOURS:-default nginxorg})
cache=$repo/build/nginx-matrix

if [[ -d $source_arg ]]; then
  archives=("$source_arg"/nginx-*.tar.gz)
  [[ -e ${archives[0]} ]] || { echo "build-nginx: no nginx-*.tar.gz in $source_arg" >&2; exit 2; }
elif [[ -f $source_arg ]]; then
  archives=("$source_arg")
else
  echo "build-nginx: $source_arg is neither a folder of nginx archives nor an archive" >&2
  exit 2
fi

# Both flavours keep -g: scripts/nginx-layout.sh reads the structs from DWARF.
# "default" is nginx's own configure (its CFLAGS already have -g) plus TLS and HTTP/2.
# "nginxorg" follows the configure line of nginx.org's Linux packages (no --with-debug).
configure_args() {
  case $1 in
    default) echo "--with-http_ssl_module --with-http_v2_module" ;;
    nginxorg)
      echo "--with-compat --with-threads --with-file-aio" \
        "--with-http_ssl_module --with-http_v2_module --with-http_v3_module" \
        "--with-http_realip_module --with-http_stub_status_module --with-http_gzip_static_module" \
        "--with-http_auth_request_module --with-http_sub_module --with-http_addition_module" \
        "--with-http_dav_module --with-http_flv_module --with-http_gunzip_module --with-http_mp4_module" \
        "--with-http_random_index_module --with-http_secure_link_module --with-http_slice_module" \
        "--with-stream --with-stream_ssl_module --with-stream_realip_module --with-stream_ssl_preread_module" \
        "--with-mail --with-mail_ssl_module"
      ;;
    *) echo "build-nginx: unknown flavour $1 (default, nginxorg)" >&2; return 2 ;;
  esac
}
cc_opt() {
  case $1 in
    nginxorg) echo "-g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC" ;;
    *) echo "" ;;
  esac
}

build_one() {  # archive flavour
  local archive=$1 flavour=$2
  local version
  version=$(basename "$archive" .tar.gz)
  version=${version#nginx-}
  if [[ -n ${WHY502_NGINX_BUILDS:-} && " $WHY502_NGINX_BUILDS " != *" $version-$flavour "* ]]; then return 0; fi
  local dir=$cache/$version-$flavour
  local args cflags
  args=$(configure_args "$flavour")
  cflags=$(cc_opt "$flavour")
  local key
  key="$(sha256sum "$archive" | cut -d' ' -f1) $args cc-opt=[$cflags]"
  if [[ -x $dir/prefix/sbin/nginx && -f $dir/key && $(cat "$dir/key") == "$key" ]]; then
    echo "build-nginx: $version-$flavour is cached" >&2
    echo "$version-$flavour $dir/prefix/sbin/nginx"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  tar -xzf "$archive" -C "$dir"
  local src
  src=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name 'nginx*' | head -1)
  [[ -n $src ]] || { echo "build-nginx: $archive holds no nginx-* folder" >&2; return 2; }
  local configure=./configure
  [[ -x $src/configure ]] || configure=auto/configure
  local start=$SECONDS
  echo "build-nginx: building $version-$flavour (log: $dir/build.log)" >&2
  # shellcheck disable=SC2086  # args is a list of words
  if ! (cd "$src" &&
        $configure --prefix="$dir/prefix" $args ${cflags:+--with-cc-opt="$cflags"} &&
        make -j2 && make install) >"$dir/build.log" 2>&1; then
    echo "build-nginx: $version-$flavour failed; last lines of $dir/build.log:" >&2
    tail -20 "$dir/build.log" >&2
    return 1
  fi
  rm -rf "$src/objs/src"  # object files; the binary keeps its debug info
  echo "$key" >"$dir/key"
  echo "build-nginx: $version-$flavour built in $((SECONDS - start)) s" >&2
  echo "$version-$flavour $dir/prefix/sbin/nginx"
}

for archive in "${archives[@]}"; do
  for flavour in "${flavours[@]}"; do
    build_one "$archive" "$flavour"
  done
done
