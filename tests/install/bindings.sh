#!/usr/bin/env bash
# The bindings as a user outside the source tree gets them: installs BUILD_DIR into a fresh
# prefix, then for each language copies the sample into a scratch folder and builds it with
# nothing but the prefix and the language's own tool, offline:
#   C     cc + pkg-config (rpath from pkg-config's libdir)
#   Go    a module with `replace surgeon.dev/surgeon => <prefix>/share/surgeon/go`, cgo
#         through pkg-config (no SWIG involved: the module carries its generated code)
#   Java  `mvn install:install-file` of <prefix>/share/java/surgeon-<v>.jar (+ POM, sources,
#         javadoc) into a scratch local repository, then a Maven project depending on
#         dev.surgeon:surgeon:<v>, built and run with `mvn -o` (plugins from Debian's
#         /usr/share/maven-repo) and no -Dsurgeon.jni.library (the jar's own library)
#   Rust  a workspace with `surgeon = { path = "<prefix>/share/surgeon/rust/surgeon" }`,
#         surgeon-sys finding the library through pkg-config, rpath in .cargo/config.toml
# Each runs the layer sample and the bundled model's perplexity on the bundled text, into an
# output folder that does not exist yet. Also checks the generated API docs: go vet and
# go doc of the installed module, rustdoc with -D warnings (javadoc runs with -Werror in
# the build). A language whose tool is missing is skipped with a message.
#   tests/install/bindings.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/surgeon-consumers.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
version="$(sed -n 's/^project(surgeon VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
fixture="$root/tests/fixtures/stories260K_block2_wq"
model="$root/samples/data/stories260K.bin"
text="$root/samples/data/tinystories-valid.txt"
failed=0 passed=0 skipped=0

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir="$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --variable=libdir surgeon)"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
echo "installed Surgeon $version into $prefix"

# check NAME LOG: the sample printed the model's perplexity and, last, its output files.
check() {
    if grep -q "^model stories260K.bin (5 blocks, dim 64): perplexity [0-9.]* over 20 paragraphs" "$2" &&
        tail -n1 "$2" | grep -q "^wrote "; then
        echo "PASS $1: $(grep -m1 '^model ' "$2")"
        passed=$((passed + 1))
    else
        echo "FAIL $1:" && cat "$2"
        failed=$((failed + 1))
    fi
}
skip() {
    echo "SKIP $1"
    skipped=$((skipped + 1))
}
# run NAME COMMAND...: runs in the current folder, output to $work/NAME.log, then check.
run() {
    local name="$1"
    shift
    if "$@" >"$work/$name.log" 2>&1; then
        check "$name" "$work/$name.log"
    else
        echo "FAIL $name ($*):" && cat "$work/$name.log"
        failed=$((failed + 1))
    fi
}

# ---- C ---------------------------------------------------------------------------------
mkdir -p "$work/c" && cp "$root/samples/c/compress_layer.c" "$work/c/" && cd "$work/c"
# shellcheck disable=SC2046
run c sh -c "cc -std=c99 -O2 compress_layer.c $(pkg-config --cflags --libs surgeon) \
    -Wl,-rpath,$libdir -o compress_layer && ./compress_layer '$fixture' '$work/out/c/layer' '$model' '$text'"

# ---- Go --------------------------------------------------------------------------------
if [ ! -f "$prefix/share/surgeon/go/go.mod" ]; then
    skip "go: no module installed (built with SURGEON_BINDINGS=OFF)"
elif command -v go >/dev/null; then
    mkdir -p "$work/go" && cp "$root/samples/go/main.go" "$work/go/" && cd "$work/go"
    cat >go.mod <<EOF
module example.com/consumer

go 1.19

require surgeon.dev/surgeon v0.0.0

replace surgeon.dev/surgeon => $prefix/share/surgeon/go
EOF
    export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1 \
        GOCACHE="$work/go-cache" GOPATH="$work/go-path" CGO_LDFLAGS="-Wl,-rpath,$libdir"
    if find "$prefix/share/surgeon/go" -name '*.swig' -o -name '*.i' | grep -q .; then
        echo "FAIL go: the installed module has SWIG input files"
        failed=$((failed + 1))
    fi
    run go go run . "$fixture" "$work/out/go/layer" "$model" "$text"
    # API docs: vet the packages (package raw is SWIG's) and render every doc comment.
    (cd "$prefix/share/surgeon/go" && go vet . ./npy && go doc -all . >"$work/godoc.txt" &&
        go doc -all ./npy >>"$work/godoc.txt") >"$work/go-doc.log" 2>&1 &&
        { echo "PASS go doc: $(grep -c '^func' "$work/godoc.txt") functions documented, go vet clean"; passed=$((passed + 1)); } ||
        { echo "FAIL go doc:"; cat "$work/go-doc.log"; failed=$((failed + 1)); }
else
    skip "go: go not found (apt-get install golang-go)"
fi

# ---- Java (Maven) ----------------------------------------------------------------------
maven_repo=/usr/share/maven-repo
if [ ! -f "$prefix/share/java/surgeon-$version.jar" ]; then
    skip "java: no surgeon-$version.jar installed (the build found no JDK, SWIG or JUnit 5)"
elif ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
    skip "java: mvn or java not found (apt-get install maven default-jdk-headless)"
elif [ ! -d "$maven_repo/org/apache/maven/plugins/maven-install-plugin" ] ||
    [ ! -d "$maven_repo/org/apache/maven/plugins/maven-compiler-plugin" ]; then
    skip "java: Maven's plugins not in $maven_repo (apt-get install libmaven-install-plugin-java libmaven-compiler-plugin-java libmaven-jar-plugin-java libmaven-resources-plugin-java libsurefire-java)"
else
    mkdir -p "$work/java/src/main/java/dev/surgeon/sample" && cd "$work/java"
    cp "$root/samples/java/src/dev/surgeon/sample/CompressLayer.java" src/main/java/dev/surgeon/sample/
    # Debian's packaged plugins stand in for Maven Central; -o with file: allowed keeps
    # every resolution on this machine.
    cat >settings.xml <<EOF
<settings>
  <localRepository>$work/m2</localRepository>
  <mirrors>
    <mirror><id>debian</id><mirrorOf>*</mirrorOf><url>file://$maven_repo</url></mirror>
  </mirrors>
</settings>
EOF
    cat >pom.xml <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>consumer</artifactId>
  <version>1</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>dev.surgeon</groupId>
      <artifactId>surgeon</artifactId>
      <version>$version</version>
    </dependency>
  </dependencies>
</project>
EOF
    mvn=(mvn -B -q -o -Daether.offline.protocols=file -s settings.xml)
    jars="$prefix/share/java/surgeon-$version"
    jar="$work/m2/dev/surgeon/surgeon/$version/surgeon-$version.jar"
    if "${mvn[@]}" install:install-file -Dfile="$jars.jar" -DpomFile="$jars.pom" \
        -Dsources="$jars-sources.jar" -Djavadoc="$jars-javadoc.jar" >"$work/mvn-install.log" 2>&1 &&
        [ -f "$work/m2/dev/surgeon/surgeon/$version/surgeon-$version-javadoc.jar" ] &&
        "${mvn[@]}" package >"$work/mvn-package.log" 2>&1; then
        # No -Dsurgeon.jni.library and an empty java.library.path: the jar's own library.
        run java java -Djava.library.path="$work/none" -cp "target/consumer-1.jar:$jar" \
            dev.surgeon.sample.CompressLayer "$fixture" "$work/out/java/layer" "$model" "$text"
    else
        echo "FAIL java (maven):" && cat "$work"/mvn-*.log
        failed=$((failed + 1))
    fi
fi

# ---- Rust ------------------------------------------------------------------------------
if [ ! -f "$prefix/share/surgeon/rust/surgeon/Cargo.toml" ]; then
    skip "rust: no crates installed (built with SURGEON_BINDINGS=OFF)"
elif command -v cargo >/dev/null; then
    mkdir -p "$work/rust/src" "$work/rust/.cargo" && cd "$work/rust"
    cp "$root/samples/rust/src/main.rs" src/
    cat >Cargo.toml <<EOF
[package]
name = "consumer"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
surgeon = { path = "$prefix/share/surgeon/rust/surgeon" }

[workspace]
EOF
    # The rpath of the program is the user's to give (a dependency cannot).
    cat >.cargo/config.toml <<EOF
[build]
rustflags = ["-C", "link-arg=-Wl,-rpath,$libdir"]
EOF
    unset SURGEON_LIB_DIR
    export CARGO_HOME="$work/cargo-home" CARGO_TARGET_DIR="$work/cargo-target"
    run rust cargo run --offline --quiet -- "$fixture" "$work/out/rust/layer" "$model" "$text"
    RUSTDOCFLAGS="-D warnings" cargo doc --offline --no-deps -p surgeon -p surgeon-sys >"$work/rustdoc.log" 2>&1 &&
        { echo "PASS rustdoc: surgeon and surgeon-sys documented with -D warnings"; passed=$((passed + 1)); } ||
        { echo "FAIL rustdoc:"; cat "$work/rustdoc.log"; failed=$((failed + 1)); }
else
    skip "rust: cargo not found (apt-get install cargo)"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
