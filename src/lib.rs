//! kindling: compiles a compact cluster spec into one validated Ignition config per node.
//!
//! The pipeline runs one way: parse (`spec`) → resolve (`resolve`) → render (`profile`) →
//! assemble (`ignition`) → validate (`validate`) → emit (`emit`). `compile` strings the
//! stages together and writes nothing; the CLI decides where the result goes.

pub mod butane;
pub mod bytes;
pub mod check;
pub mod cli;
pub mod diag;
pub mod emit;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod ignition;
pub mod json;
pub mod materialize;
pub mod monitoring;
pub mod pki;
pub mod profile;
pub mod read;
pub mod redact;
pub mod resolve;
pub mod secret;
pub mod show;
pub mod snippet;
pub mod spec;
pub mod sysext;
pub mod tls;
pub mod validate;

use std::path::{Path, PathBuf};

use diag::{Diagnostic, Location, Report, Severity};
use ignition::Assembled;
use resolve::context::NodeContexts;

/// How to compile.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Extra profile directory (`--profiles`), searched before the built-in profiles.
    pub profiles_dir: Option<PathBuf>,
    /// Indented JSON instead of compact.
    pub pretty: bool,
    /// Compile only this node.
    pub only_node: Option<String>,
    /// Write this Ignition spec version instead of the spec's `cluster.ignition`.
    pub ignition: Option<ignition::SpecVersion>,
    /// The time and expiry window the certificate checks use.
    pub checks: check::Options,
    /// Validate every node's config but print none: `Compiled::nodes` is then empty. For
    /// `check`, which reports findings only: printing a config never finds anything, and a
    /// 1000-node cluster's printed configs are 75 MB made, kept until the end, and dropped.
    pub findings_only: bool,
    /// `kindling restore`: configs that rebuild the cluster from this snapshot.
    pub restore: Option<resolve::restore::RestoreRequest>,
}

/// How each node's validated config is printed, if at all.
#[derive(Clone, Copy)]
enum Printing {
    Compact,
    Pretty,
    Skipped,
}

impl Printing {
    fn of(options: &Options) -> Printing {
        match (options.findings_only, options.pretty) {
            (true, _) => Printing::Skipped,
            (false, true) => Printing::Pretty,
            (false, false) => Printing::Compact,
        }
    }
}

/// One node's finished config.
#[derive(Debug)]
pub struct RenderedNode {
    pub name: String,
    /// The serialized Ignition JSON, ending in a newline.
    pub json: String,
}

/// A successful compile: every node's config, and the warnings found on the way (a
/// report that holds no errors), with the resolved cluster for the delivery stages.
#[derive(Debug)]
pub struct Compiled {
    /// In node order; empty when `Options::findings_only` was set.
    pub nodes: Vec<RenderedNode>,
    pub warnings: Report,
    pub cluster: resolve::Cluster,
    /// `sha256-<hex>` of the sysext image the configs verify, if any.
    pub image_hash: Option<String>,
    /// Prometheus's scrape configuration and alert rules (`monitoring:`), else empty.
    pub monitoring: Vec<monitoring::MonitoringFile>,
}

/// Runs the whole pipeline for the spec at `spec_path`, up to and including validation.
pub fn compile(spec_path: &Path, options: &Options) -> Result<Compiled, Report> {
    let document = spec::load(spec_path)?;
    let mut cluster = resolve::resolve(&document)?;
    if let Some(version) = options.ignition {
        cluster.ignition = version;
    }
    if let Some(request) = &options.restore {
        resolve::restore::apply(&mut cluster, request)?;
    }
    select_node(&cluster, options.only_node.as_deref())?;
    // A file that cannot be read does not stop the checks that do not need it.
    let (material, mut report) = resolve::material::load(&cluster);
    report.extend(std::mem::take(&mut cluster.warnings));
    let profile = match profile::load(&cluster.profile, options.profiles_dir.as_deref()) {
        Ok(profile) => profile,
        Err(errors) => {
            report.extend(errors);
            return Err(report);
        }
    };
    let context = check::Context {
        cluster: &cluster,
        material: &material,
        options: options.checks,
    };
    report.extend(check::run(&context));
    if report.has_errors() {
        return Err(report.without_repeats());
    }
    let wanted = |name: &str| options.only_node.as_ref().is_none_or(|only| only == name);
    let snippets = match snippet::load(&cluster, wanted) {
        Ok((snippets, warnings)) => {
            report.extend(warnings);
            snippets
        }
        Err(errors) => {
            report.extend(errors);
            return Err(report);
        }
    };
    let contexts = NodeContexts::new(&cluster, &material, profile.layout);
    let shared = ignition::dataurl::SharedTexts::new(contexts.shared_texts());
    let inputs: Vec<NodeInputs> = cluster
        .nodes
        .iter()
        .zip(&material.nodes)
        .filter(|(node, _)| wanted(&node.name))
        .map(|(node, tls)| NodeInputs {
            profile: &profile,
            contexts: &contexts,
            shared: &shared,
            node,
            tls,
            loaded: &snippets,
        })
        .collect();
    let mut nodes = Vec::new();
    for outcome in compile_nodes(&inputs, cluster.ignition, Printing::of(options)) {
        match outcome {
            Ok((node, warnings)) => {
                report.extend(warnings);
                nodes.extend(node);
            }
            Err(errors) => report.extend(errors),
        }
    }
    let report = report.without_repeats();
    if report.has_errors() {
        return Err(report);
    }
    Ok(Compiled {
        nodes,
        warnings: report,
        image_hash: material.image_hash.clone(),
        monitoring: monitoring::files(&cluster, &material, &monitoring::spec_name(spec_path)),
        cluster,
    })
}

fn select_node(cluster: &resolve::Cluster, only: Option<&str>) -> Result<(), Report> {
    let Some(only) = only else { return Ok(()) };
    if cluster.nodes.iter().any(|n| n.name == only) {
        return Ok(());
    }
    let names: Vec<&str> = cluster.nodes.iter().map(|n| n.name.as_str()).collect();
    Err(Diagnostic::error(
        "cli.unknown-node",
        format!("the spec has no node named {only:?}"),
        Location::Nowhere,
    )
    .with_help(format!("nodes in this spec: {}", names.join(", ")))
    .into())
}

/// What one node's config is made from.
struct NodeInputs<'a> {
    profile: &'a profile::Profile,
    contexts: &'a NodeContexts<'a>,
    /// The texts every node's files share, encoded once.
    shared: &'a ignition::dataurl::SharedTexts,
    node: &'a resolve::Node,
    tls: &'a resolve::material::NodeTls,
    loaded: &'a snippet::Snippets,
}

/// Nodes per thread below which a second thread costs more than it saves. A node takes
/// about half a millisecond, but a second thread brings its own stack and malloc arena:
/// splitting five-node-fqdn over two cores saved 4-8% of its wall time and cost 11% more
/// CPU time.
const NODES_PER_THREAD: usize = 32;

/// Compiles every node, in order. A large cluster is split across the machine's cores in
/// contiguous runs of nodes, and the results are put back in node order, so the output is
/// the same whatever the core count.
fn compile_nodes(
    inputs: &[NodeInputs],
    version: ignition::SpecVersion,
    printing: Printing,
) -> Vec<Result<(Option<RenderedNode>, Report), Report>> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = cores.min(inputs.len() / NODES_PER_THREAD).max(1);
    if threads == 1 {
        return inputs
            .iter()
            .map(|node| compile_node(node, version, printing))
            .collect();
    }
    let run = inputs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = inputs
            .chunks(run)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|node| compile_node(node, version, printing))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// render → assemble → merge snippets → validate → print for one node (nothing is printed
/// when `printing` says so).
fn compile_node(
    inputs: &NodeInputs,
    version: ignition::SpecVersion,
    printing: Printing,
) -> Result<(Option<RenderedNode>, Report), Report> {
    let node = &inputs.node.name;
    let context_json = to_json(&inputs.contexts.node(inputs.node, inputs.tls))?;
    let entries = profile::render::render(inputs.profile, context_json)?;
    let assembled = ignition::assemble(version, entries, inputs.shared)?;
    let merged = snippet::merge_node(
        node,
        &inputs.profile.name,
        to_json(&assembled.config)?,
        &assembled,
        &inputs.node.snippets,
        inputs.loaded,
    )?;
    let report = attach_origins(
        own_output_strictness(validate::validate_knowing(
            &merged.config,
            version,
            Some(validate::Os::Flatcar),
            &assembled.data_urls(),
        )),
        &assembled,
        &merged,
        node,
    );
    let config = merged.config;
    if report.has_errors() {
        return Err(report);
    }
    let pretty = match printing {
        Printing::Skipped => return Ok((None, report)),
        Printing::Compact => false,
        Printing::Pretty => true,
    };
    let mut json = json::to_string(&config, pretty);
    json.push('\n');
    let rendered = RenderedNode {
        name: node.clone(),
        json,
    };
    Ok((Some(rendered), report))
}

/// kindling's own output may not carry a key its spec version does not define: what is
/// only a warning for someone else's config is an error here.
fn own_output_strictness(mut report: Report) -> Report {
    for d in &mut report.diagnostics {
        if d.code == "ign.unknown-key" {
            d.severity = Severity::Error;
        }
    }
    report
}

/// Points each finding at the snippet line or the profile entry that produced it. A
/// rendered config that fails validation because of the profile is a defect of kindling or
/// of the profile, and says so.
fn attach_origins(
    report: Report,
    assembled: &Assembled,
    merged: &snippet::Merged,
    node: &str,
) -> Report {
    let diagnostics = report
        .diagnostics
        .into_iter()
        .map(|mut d| {
            if let Location::Json { path, span, .. } = &mut d.location
                && let Some((yaml, snippet_span)) = merged.source_of(path)
            {
                *path = yaml;
                *span = Some(snippet_span);
                return d;
            }
            if let Location::Json { path, origin, .. } = &mut d.location {
                *origin = assembled.origin_of(path).map(str::to_string);
                d.message = format!("node {node}: {}", d.message);
                if d.severity == Severity::Error && d.help.is_none() {
                    d.help = Some(
                        "the profile produced an invalid config: fix the entry named above".into(),
                    );
                }
            }
            d
        })
        .collect();
    Report { diagnostics }
}

/// Serializing kindling's own typed values cannot fail in practice (no maps with
/// non-string keys, no failing Serialize impls); if it ever does, it is reported, not a panic.
fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, Report> {
    serde_json::to_value(value).map_err(internal)
}

fn internal(error: serde_json::Error) -> Report {
    Diagnostic::error(
        "internal.serialize",
        format!("internal error while serializing: {error}"),
        Location::Nowhere,
    )
    .into()
}
