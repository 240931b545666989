"""funnel's Bazel dependencies, for funnel's own WORKSPACE and for yours.

A downstream WORKSPACE needs three statements (docs/getting-started.md):

    local_repository(name = "funnel", path = "/path/to/funnel")  # or any repository rule
    load("@funnel//:deps.bzl", "funnel_dependencies")
    funnel_dependencies()

Everything is offline, as in funnel's own build: GoogleTest, Google Benchmark
and Boost come from Debian's -dev packages under /usr/include; Abseil from the
patched source that scripts/install_deps.sh unpacks to /opt/funnel-deps/abseil
(absl::string_view is std::string_view there, which funnel's headers need);
rules_cc, rules_java and remote_coverage_tools are funnel's small stand-ins
(third_party/), which keep Bazel 4.2.3's built-in WORKSPACE suffix from trying
to download them. Call funnel_dependencies() before anything else that uses
those names. A repository you already declared under one of these names is
left alone.
"""

def _funnel_local_dir_impl(rctx):
    # funnel's root, wherever @funnel was fetched to (or the main workspace).
    root = rctx.path(rctx.attr.marker).dirname
    src = rctx.path("%s/%s" % (root, rctx.attr.dir))
    for entry in src.readdir():
        rctx.symlink(entry, entry.basename)

# A directory of funnel's source tree as a repository of its own (what
# local_repository does, but with the path relative to funnel, not to the
# workspace that calls funnel_dependencies()).
_funnel_local_dir = repository_rule(
    implementation = _funnel_local_dir_impl,
    attrs = {
        "dir": attr.string(mandatory = True),
        "marker": attr.label(default = Label("//:WORKSPACE"), allow_single_file = True),
    },
    local = True,
)

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def funnel_dependencies(abseil_path = "/opt/funnel-deps/abseil", system_include = "/usr/include"):
    """Declares every repository funnel's targets (and its testing kit) need.

    Args:
      abseil_path: the patched Abseil source (scripts/install_deps.sh puts it there).
      system_include: where Debian's GoogleTest, Benchmark and Boost headers are.
    """

    # Offline stand-ins for what Bazel 4.2.3's WORKSPACE suffix would download.
    _maybe(_funnel_local_dir, "rules_cc", dir = "third_party/rules_cc")
    _maybe(_funnel_local_dir, "rules_java", dir = "third_party/rules_java")
    _maybe(_funnel_local_dir, "remote_coverage_tools", dir = "third_party/remote_coverage_tools")

    # Bazel support libraries, from Debian's bazel-skylib and bazel-platforms.
    _maybe(native.local_repository, "bazel_skylib", path = "/usr/share/bazel/tools/skylib")
    _maybe(native.local_repository, "platforms", path = "/usr/share/bazel/tools/platforms")

    # Prebuilt system libraries (Debian -dev packages), wrapped as Bazel targets:
    # @gtest//:gtest, :gtest_main, :gmock, :gmock_main
    _maybe(
        native.new_local_repository,
        "gtest",
        build_file = str(Label("//third_party/gtest:gtest.BUILD")),
        path = system_include,
    )

    # @boost_hana//:hana, :lockfree (header-only)
    _maybe(
        native.new_local_repository,
        "boost_hana",
        build_file = str(Label("//third_party/boost_hana:boost_hana.BUILD")),
        path = system_include,
    )

    # @benchmark//:benchmark, :benchmark_main
    _maybe(
        native.new_local_repository,
        "benchmark",
        build_file = str(Label("//third_party/benchmark:benchmark.BUILD")),
        path = system_include,
    )

    # Abseil, built from source (Debian's abseil 20220623.1 with Debian's
    # patches and third_party/abseil/*.patch); absl::string_view, optional,
    # variant and any are the std:: types.
    _maybe(
        native.local_repository,
        "com_google_absl",
        path = abseil_path,
        repo_mapping = {
            "@com_google_googletest": "@gtest",
            "@com_github_google_benchmark": "@benchmark",
        },
    )
