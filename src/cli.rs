//! The command line: parses arguments with clap, calls the library, prints the report and
//! maps the outcome to an exit code (0 ok, 1 bad input, 2 bad usage). No clap type leaves
//! this file.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::diag::{Diagnostic, Format, Location, Report};
use crate::emit::{self, Output};
use crate::ignition::SpecVersion;
use crate::pki::{self, Validity};
use crate::{Options, compile, materialize, resolve, spec};

#[derive(Debug, Parser)]
#[command(
    name = "kindling",
    version,
    about = "Compile a cluster spec into validated Ignition configs, one per node"
)]
struct Cli {
    /// How to print errors and warnings
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Human)]
    format: FormatArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Human,
    Json,
    Github,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Human => Format::Human,
            FormatArg::Json => Format::Json,
            FormatArg::Github => Format::Github,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render, validate and write DIR/<node>.ign for every node of the spec
    Render(RenderArgs),
    /// Manage the cluster's TLS material
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Apply an Ignition config's files and units to a directory, as Ignition would at first boot
    Materialize(MaterializeArgs),
    /// Validate Ignition configs (spec 3.0.0-3.5.0); `-` reads stdin
    Validate(ValidateArgs),
    /// Run the whole pipeline and every check (TLS, etcd, sysext, drift) without writing
    Check(CheckArgs),
    /// Terraform `external` data source: a JSON query on stdin, rendered configs on stdout
    Terraform,
    /// Write (or update) a Matchbox data directory for the cluster, swapped in atomically
    Matchbox(MatchboxArgs),
    /// Translate a Butane config (fcos 1.0.0-1.6.0, flatcar 1.0.0-1.1.0) into an Ignition config
    Butane(ButaneArgs),
    /// Print Ignition configs as readable YAML: contents decoded, private keys as fingerprints
    Show(ShowArgs),
    /// Work with profiles
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Print the `etcdctl member add` to run on the cluster before the `join: true` node boots
    Join(JoinArgs),
    /// Render configs that rebuild the whole cluster from one snapshot (disaster recovery)
    Restore(RestoreArgs),
    /// Print the DNS records (SRV, A/AAAA) the cluster needs, as zone-file lines to paste
    Dns(DnsArgs),
    /// Print the kubeadm ClusterConfiguration `etcd.external` block that points a control plane at the cluster
    Kubeadm(KubeadmArgs),
    /// Build the etcd systemd-sysext image the configs reference
    #[command(subcommand)]
    Sysext(SysextCommand),
}

#[derive(Debug, Subcommand)]
enum SysextCommand {
    /// Pack an etcd release into DIR/etcd-<version>-<arch>.raw and record it in DIR/SHA256SUMS
    Build(SysextBuildArgs),
}

#[derive(Debug, Args)]
struct SysextBuildArgs {
    /// The etcd release: upstream's etcd-vX.Y.Z-linux-ARCH.tar.gz, or a directory holding
    /// etcd, etcdctl and etcdutl
    #[arg(long = "etcd", value_name = "TARBALL|DIR")]
    source: PathBuf,
    /// The architecture the image is for; must match the binaries (read from them if not given)
    #[arg(long, value_parser = ["x86-64", "arm64"])]
    arch: Option<String>,
    /// The etcd version, vX.Y.Z (read from the release's name if not given)
    #[arg(long)]
    version: Option<String>,
    /// The directory the image and SHA256SUMS go to (the spec's sysext.sha256sums names its SHA256SUMS)
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct KubeadmArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
    /// The `tls.clients` certificate the API server uses
    #[arg(long, default_value = "apiserver-etcd-client")]
    client: String,
}

#[derive(Debug, Args)]
struct JoinArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
}

#[derive(Debug, Args)]
struct DnsArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// Ignition config files, or `-` for standard input
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Write a built-in profile into DIR, to start a custom one from
    Export(ProfileExportArgs),
}

#[derive(Debug, Args)]
struct ProfileExportArgs {
    /// The built-in profile
    name: String,
    /// The directory to create (it must not exist, or be empty)
    dir: PathBuf,
}

#[derive(Debug, Args)]
struct ButaneArgs {
    /// The Butane config; `-` or nothing reads standard input
    input: Option<PathBuf>,
    /// Write the Ignition config to FILE (atomically, mode 0600) instead of standard output
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Fail on any warning
    #[arg(long)]
    strict: bool,
    /// Indented JSON instead of compact
    #[arg(long, short = 'p')]
    pretty: bool,
    /// The directory `local`, `contents_local`, `ssh_authorized_keys_local` and `trees` read from
    #[arg(short = 'd', long)]
    files_dir: Option<PathBuf>,
    /// Always write a plain Ignition config (what fcos and flatcar configs give anyway)
    #[arg(short, long)]
    raw: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
    /// Compare with the committed configs DIR/<node>.ign
    #[arg(long)]
    golden: Option<PathBuf>,
    /// Treat warnings as errors
    #[arg(long)]
    strict: bool,
    /// Warn about certificates that expire within this many days
    #[arg(long, default_value_t = 30)]
    expiry_days: u32,
    /// A directory of profiles, searched before the built-in ones
    #[arg(long)]
    profiles: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// Ignition config files, or `-` for standard input
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Treat warnings as errors
    #[arg(long)]
    strict: bool,
    /// Also run the lints that depend on what this OS ships (its units, targets, paths)
    #[arg(long, value_enum)]
    os: Option<OsArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OsArg {
    Flatcar,
    Fcos,
}

#[derive(Debug, Args)]
struct MatchboxArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
    /// The Matchbox data directory (e.g. /var/lib/matchbox)
    #[arg(short, long)]
    output: PathBuf,
    /// A directory holding the sysext images the spec references, published under assets/extensions
    #[arg(long)]
    images: Option<PathBuf>,
    /// Mode of the node configs, which hold private keys (octal)
    #[arg(long, default_value = "0600")]
    mode: String,
    /// A directory of profiles, searched before the built-in ones
    #[arg(long)]
    profiles: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MaterializeArgs {
    /// The Ignition config (a rendered <node>.ign, or any spec 3.0-3.5 config)
    config: PathBuf,
    /// The directory standing for the node's root filesystem
    #[arg(long)]
    root: PathBuf,
    /// A directory holding the files that remote sources name (matched by file name)
    #[arg(long)]
    assets: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RenderArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
    /// Output directory, or `-` for stdout (needs --node)
    #[arg(short, long)]
    output: PathBuf,
    /// Render only this node
    #[arg(long)]
    node: Option<String>,
    /// Indented JSON instead of compact
    #[arg(long)]
    pretty: bool,
    /// A directory of profiles, searched before the built-in ones
    #[arg(long)]
    profiles: Option<PathBuf>,
    /// Write this Ignition spec version instead of the spec's cluster.ignition
    #[arg(long, value_parser = ["3.4.0", "3.3.0"])]
    ignition: Option<String>,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
    /// The snapshot to restore (`etcdctl snapshot save`, or a kindling backup)
    #[arg(long, value_name = "FILE")]
    snapshot: PathBuf,
    /// Where the nodes fetch that same file at first boot (http or https)
    #[arg(long, value_name = "URL")]
    snapshot_url: String,
    /// Output directory for the configs
    #[arg(short, long)]
    output: PathBuf,
    /// A directory of profiles, searched before the built-in ones
    #[arg(long)]
    profiles: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create the CA and every missing certificate and key in the spec's TLS directory
    Init(PkiInitArgs),
    /// Re-issue leaf certificates (new keys, same CA, same files) that expire soon or are named
    Renew(PkiRenewArgs),
}

#[derive(Debug, Args)]
struct PkiRenewArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
    /// Renew the leaves that expire within this many days (when no --node or --client is given)
    #[arg(long, default_value_t = 30)]
    within: u32,
    /// Renew this node's server and peer pairs (repeatable)
    #[arg(long = "node")]
    nodes: Vec<String>,
    /// Renew this client's pair: etcdctl, or a tls.clients name (repeatable)
    #[arg(long = "client")]
    clients: Vec<String>,
    /// Validity of the new certificates in days (default: tls.leaf_days, else 365)
    #[arg(long)]
    leaf_days: Option<u32>,
}

#[derive(Debug, Args)]
struct PkiInitArgs {
    /// The cluster spec (YAML)
    spec: PathBuf,
    /// CA validity in days (default: tls.ca_days, else 3650)
    #[arg(long)]
    ca_days: Option<u32>,
    /// Leaf certificate validity in days (default: tls.leaf_days, else 365)
    #[arg(long)]
    leaf_days: Option<u32>,
}

/// Runs the command line and returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { 2 } else { 0 };
        }
    };
    let format = Format::from(cli.format);
    // Where the report goes: with --format json, stdout, unless stdout carries the
    // command's own output (a config from `render -o -`, materialize's action lines).
    let stdout_busy = match &cli.command {
        Command::Render(args) => args.output == Path::new("-"),
        Command::Materialize(_) | Command::Show(_) => true,
        Command::Butane(args) => args.output.is_none(),
        _ => false,
    };
    let sink = Sink {
        format,
        stdout_busy,
    };
    let result = match cli.command {
        Command::Render(args) => render(&args, sink),
        Command::Pki(PkiCommand::Init(args)) => pki_init(&args),
        Command::Pki(PkiCommand::Renew(args)) => pki_renew(&args),
        Command::Materialize(args) => materialize_config(&args),
        Command::Validate(args) => return validate_configs(&args, sink),
        Command::Check(args) => return check_cluster(&args, sink),
        Command::Terraform => return terraform(),
        Command::Matchbox(args) => matchbox(&args, sink),
        Command::Butane(args) => butane(&args, sink),
        Command::Show(args) => show(&args),
        Command::Profile(ProfileCommand::Export(args)) => export_profile(&args),
        Command::Join(args) => join(&args),
        Command::Dns(args) => dns(&args),
        Command::Restore(args) => restore(&args, sink),
        Command::Kubeadm(args) => kubeadm(&args),
        Command::Sysext(SysextCommand::Build(args)) => sysext_build(args),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            sink.print(&report);
            1
        }
    }
}

/// How and where a command prints its report: human and github formats on stderr, the
/// JSON array on stdout (for `jq` and CI steps that capture it), except when stdout
/// already carries the command's output.
#[derive(Clone, Copy)]
struct Sink {
    format: Format,
    stdout_busy: bool,
}

impl Sink {
    fn print(self, report: &Report) {
        let text = report.render(self.format);
        if self.format == Format::Json && !self.stdout_busy {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
    }
}

fn render(args: &RenderArgs, sink: Sink) -> Result<i32, Report> {
    let to_stdout = args.output == Path::new("-");
    if to_stdout && args.node.is_none() {
        eprintln!("error: `-o -` prints one config, so it needs --node NAME");
        return Ok(2);
    }
    let options = Options {
        profiles_dir: args.profiles.clone(),
        pretty: args.pretty,
        only_node: args.node.clone(),
        ignition: args
            .ignition
            .as_deref()
            .and_then(SpecVersion::parse_rendered),
        ..Options::default()
    };
    let mut compiled = compile(&args.spec, &options)?;
    let warnings = std::mem::take(&mut compiled.warnings);
    let result = if to_stdout {
        print_configs(&compiled.nodes)
    } else {
        write_configs(
            &args.output,
            compiled.nodes,
            &compiled.monitoring,
            sink.format,
        )
    };
    finish(warnings, result, sink)?;
    if sink.format == Format::Human {
        print_join_steps(&compiled.cluster);
    }
    Ok(0)
}

/// What to run before a joining node boots, after the configs are written or checked.
fn print_join_steps(cluster: &resolve::Cluster) {
    for step in resolve::operations::join_steps(cluster) {
        if let Some(firewall) = &step.firewall {
            eprintln!(
                "{} joins the running cluster: first, on every running member, let it through the firewall:\n  {firewall}",
                step.node
            );
        }
        eprintln!(
            "{} joins the running cluster: before it boots, run once against the cluster (`kindling join SPEC` prints it alone):\n  {}",
            step.node, step.command
        );
    }
}

fn restore(args: &RestoreArgs, sink: Sink) -> Result<i32, Report> {
    let options = Options {
        profiles_dir: args.profiles.clone(),
        restore: Some(resolve::restore::RestoreRequest {
            snapshot: args.snapshot.clone(),
            url: args.snapshot_url.clone(),
        }),
        ..Options::default()
    };
    let mut compiled = compile(&args.spec, &options)?;
    let warnings = std::mem::take(&mut compiled.warnings);
    let token = compiled
        .cluster
        .restore
        .as_ref()
        .map(|r| r.token.clone())
        .unwrap_or_default();
    let result = write_configs(
        &args.output,
        compiled.nodes,
        &compiled.monitoring,
        sink.format,
    );
    finish(warnings, result, sink)?;
    if sink.format == Format::Human {
        eprintln!(
            "every member restores the snapshot before its first start, as cluster token {token}: boot them all from these configs, on empty disks (docs/operations.md, \"Disaster recovery\")"
        );
    }
    Ok(0)
}

fn join(args: &JoinArgs) -> Result<i32, Report> {
    let document = spec::load(&args.spec)?;
    let cluster = resolve::resolve(&document)?;
    let steps = resolve::operations::join_steps(&cluster);
    if cluster.discovery.is_some() {
        return Err(Diagnostic::error(
            "join.discovery",
            "the members of a discovery cluster join by themselves",
            Location::File(args.spec.clone()),
        )
        .with_help("boot the new machine from the same config: it adds itself as a learner under the roll lock (docs/operations.md, \"One config for every member\")")
        .into());
    }
    if steps.is_empty() {
        return Err(Diagnostic::error(
            "join.none",
            "no node of this spec has `join: true`",
            Location::File(args.spec.clone()),
        )
        .with_help("mark the node being added with `join: true` (and cluster.state: existing); docs/operations.md walks through it")
        .into());
    }
    let mut stdout = std::io::stdout().lock();
    for step in steps {
        if let Some(firewall) = &step.firewall {
            writeln!(stdout, "# on every running member, before {} boots:\n{firewall}\n# then once, against the cluster:", step.node)
                .map_err(|e| stdout_error(&e))?;
        }
        writeln!(stdout, "{}", step.command).map_err(|e| stdout_error(&e))?;
    }
    Ok(0)
}

fn dns(args: &DnsArgs) -> Result<i32, Report> {
    let document = spec::load(&args.spec)?;
    let cluster = resolve::resolve(&document)?;
    let zone = resolve::zone::zone(&cluster, &args.spec)?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{zone}").map_err(|e| stdout_error(&e))?;
    Ok(0)
}

fn kubeadm(args: &KubeadmArgs) -> Result<i32, Report> {
    let document = spec::load(&args.spec)?;
    let cluster = resolve::resolve(&document)?;
    let block = resolve::kubelet::external_etcd(&cluster, &args.client)?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{block}").map_err(|e| stdout_error(&e))?;
    Ok(0)
}

fn sysext_build(args: SysextBuildArgs) -> Result<i32, Report> {
    let request = crate::sysext::BuildRequest {
        source: args.source,
        arch: args.arch,
        version: args.version,
    };
    let image = crate::sysext::plan(&request)?;
    let built = emit::image::build(image, &args.output)?;
    println!("wrote {} (sha256 {})", built.image.display(), built.sha256);
    println!("updated {}", built.sums.display());
    Ok(0)
}

fn print_configs(nodes: &[crate::RenderedNode]) -> Result<(), Report> {
    let mut stdout = std::io::stdout().lock();
    for node in nodes {
        stdout
            .write_all(node.json.as_bytes())
            .map_err(|e| stdout_error(&e))?;
    }
    stdout.flush().map_err(|e| stdout_error(&e))
}

fn write_configs(
    dir: &Path,
    nodes: Vec<crate::RenderedNode>,
    monitoring: &[crate::monitoring::MonitoringFile],
    format: Format,
) -> Result<(), Report> {
    let configs = nodes.into_iter().map(|node| Output {
        file_name: format!("{}.ign", node.name),
        bytes: node.json.into_bytes(),
    });
    let monitoring = monitoring.iter().map(|file| Output {
        file_name: format!("{MONITORING_DIR}/{}", file.name),
        bytes: file.text.clone().into_bytes(),
    });
    let outputs: Vec<Output> = configs.chain(monitoring).collect();
    let replaced = emit::write_all(dir, &outputs, 0o600)?;
    if format == Format::Human {
        eprintln!(
            "wrote {} config(s) to {}{}",
            replaced.written,
            dir.display(),
            unchanged_note(replaced.unchanged)
        );
    }
    Ok(())
}

/// Where `render` puts Prometheus's files beside the node configs.
const MONITORING_DIR: &str = "monitoring";

/// "; 3 unchanged" after a count of files written, when some were already as written.
fn unchanged_note(unchanged: usize) -> String {
    match unchanged {
        0 => String::new(),
        unchanged => format!("; {unchanged} unchanged"),
    }
}

/// Each command prints one report: on success its warnings, on failure warnings and errors
/// together (one JSON array with `--format json`).
fn finish<T>(warnings: Report, result: Result<T, Report>, sink: Sink) -> Result<T, Report> {
    match result {
        Ok(value) => {
            if !warnings.is_empty() {
                sink.print(&warnings);
            }
            Ok(value)
        }
        Err(errors) => {
            let mut all = warnings;
            all.extend(errors);
            Err(all)
        }
    }
}

fn pki_init(args: &PkiInitArgs) -> Result<i32, Report> {
    let document = spec::load(&args.spec)?;
    let cluster = resolve::resolve(&document)?;
    let validity = Validity {
        ca_days: args.ca_days.unwrap_or(cluster.tls.ca_days),
        leaf_days: args.leaf_days.unwrap_or(cluster.tls.leaf_days),
    };
    if validity.ca_days == 0 || validity.leaf_days == 0 {
        return Err(
            Diagnostic::error("cli.days", "a validity of 0 days", Location::Nowhere).into(),
        );
    }
    let outcome = pki::init(&cluster, validity, time::OffsetDateTime::now_utc())?;
    for path in &outcome.created {
        eprintln!("created {}", path.display());
    }
    eprintln!(
        "{} file(s) created, {} kept in {}",
        outcome.created.len(),
        outcome.kept.len(),
        cluster.tls.paths.dir().display()
    );
    Ok(0)
}

fn pki_renew(args: &PkiRenewArgs) -> Result<i32, Report> {
    use crate::pki::renew::{self, Reason, Selection};
    let document = spec::load(&args.spec)?;
    let cluster = resolve::resolve(&document)?;
    let leaf_days = args.leaf_days.unwrap_or(cluster.tls.leaf_days);
    if leaf_days == 0 {
        return Err(
            Diagnostic::error("cli.days", "a validity of 0 days", Location::Nowhere).into(),
        );
    }
    let selection = Selection {
        within_days: args.within,
        nodes: args.nodes.clone(),
        clients: args.clients.clone(),
    };
    let outcome = renew::renew(
        &cluster,
        &selection,
        leaf_days,
        time::OffsetDateTime::now_utc(),
    )?;
    for (path, reason) in &outcome.renewed {
        let why = match reason {
            Reason::Named => "named".to_string(),
            Reason::Expiring(end) => format!("valid until {}", end.date()),
            Reason::HalfPair => "half a pair".to_string(),
            Reason::Unreadable => "unreadable".to_string(),
        };
        eprintln!("renewed {} ({why})", path.display());
    }
    for path in &outcome.absent {
        eprintln!("missing {}: `kindling pki init` creates it", path.display());
    }
    let kept = if args.nodes.is_empty() && args.clients.is_empty() {
        format!(
            ", {} valid for more than {} days kept",
            outcome.kept, args.within
        )
    } else {
        String::new()
    };
    eprintln!(
        "{} pair(s) renewed{kept}; re-render and deliver the configs, then restart members one at a time (docs/operations.md)",
        outcome.renewed.len(),
    );
    if cluster.monitoring.is_some() && !outcome.renewed.is_empty() {
        eprintln!(
            "the render also rewrites the certificate expiry alerts (monitoring/): give Prometheus the new rules, or it warns of the old dates"
        );
    }
    Ok(0)
}

fn materialize_config(args: &MaterializeArgs) -> Result<i32, Report> {
    let options = materialize::Options {
        root: args.root.clone(),
        assets: args.assets.clone(),
    };
    let outcome = materialize::materialize(&args.config, &options)?;
    let mut stdout = std::io::stdout().lock();
    for line in &outcome.lines {
        writeln!(stdout, "{line}").map_err(|e| stdout_error(&e))?;
    }
    Ok(0)
}

fn matchbox(args: &MatchboxArgs, sink: Sink) -> Result<i32, Report> {
    let key_mode = crate::resolve::values::key_file_mode(&args.mode).map_err(|invalid| {
        Report::from(
            Diagnostic::error("cli.mode", invalid.message, Location::Nowhere)
                .with_help(invalid.help),
        )
    })?;
    let options = Options {
        profiles_dir: args.profiles.clone(),
        ..Options::default()
    };
    let mut compiled = compile(&args.spec, &options)?;
    let warnings = std::mem::take(&mut compiled.warnings);
    let tree = emit::matchbox::Options {
        dir: args.output.clone(),
        images: args.images.clone(),
        key_mode,
    };
    let replaced = finish(
        warnings,
        emit::matchbox::write(&compiled.cluster, &compiled, &tree),
        sink,
    )?;
    if sink.format == Format::Human {
        eprintln!(
            "wrote {} file(s) for cluster {} into {}{}",
            replaced.written,
            compiled.cluster.name,
            args.output.display(),
            unchanged_note(replaced.unchanged)
        );
    }
    Ok(0)
}

/// The whole pipeline without writing: every error and warning of render, plus drift
/// against committed configs. Exit 1 on errors (or, with --strict, warnings).
fn check_cluster(args: &CheckArgs, sink: Sink) -> i32 {
    let options = Options {
        profiles_dir: args.profiles.clone(),
        checks: crate::check::Options {
            expiry_warning_days: args.expiry_days,
            ..crate::check::Options::default()
        },
        findings_only: args.golden.is_none(),
        ..Options::default()
    };
    let (mut report, cluster) = match compile(&args.spec, &options) {
        Ok(compiled) => {
            let mut report = compiled.warnings;
            if let Some(golden) = &args.golden {
                report.extend(crate::check::drift::compare(&compiled.nodes, golden));
            }
            (report, Some(compiled.cluster))
        }
        Err(report) => (report, None),
    };
    if args.strict {
        report.promote_warnings();
    }
    if !report.is_empty() || sink.format != Format::Human {
        sink.print(&report);
    }
    if report.is_empty() && sink.format == Format::Human {
        eprintln!("{}: no problems found", args.spec.display());
    }
    if let Some(cluster) = cluster.filter(|_| !report.has_errors())
        && sink.format == Format::Human
    {
        print_join_steps(&cluster);
    }
    i32::from(report.has_errors())
}

/// Validates every file and prints one report; exit 1 when any file has an error (or,
/// with --strict, a warning).
fn validate_configs(args: &ValidateArgs, sink: Sink) -> i32 {
    if args.files.iter().filter(|f| *f == Path::new("-")).count() > 1 {
        eprintln!("error: `-` (standard input) may be given only once");
        return 2;
    }
    let mut report = Report::default();
    for file in &args.files {
        match crate::validate::input::read(file) {
            Ok((name, text)) => report.extend(crate::validate::input::validate_text_for(
                &name,
                text,
                args.os.map(|os| match os {
                    OsArg::Flatcar => crate::validate::Os::Flatcar,
                    OsArg::Fcos => crate::validate::Os::Fcos,
                }),
            )),
            Err(errors) => report.extend(errors),
        }
    }
    if args.strict {
        report.promote_warnings();
    }
    if !report.is_empty() || sink.format != Format::Human {
        sink.print(&report);
    }
    i32::from(report.has_errors())
}

/// Translates one Butane config: the Ignition JSON goes to stdout or `-o FILE`, findings to
/// stderr. With --strict a warning fails the run and nothing is written.
fn butane(args: &ButaneArgs, sink: Sink) -> Result<i32, Report> {
    let input = args.input.clone().unwrap_or_else(|| PathBuf::from("-"));
    let (name, text) = crate::validate::input::read(&input)?;
    let source = crate::diag::SourceFile::new(name, text);
    let options = crate::butane::Options {
        files_dir: args.files_dir.clone(),
    };
    let mut translation = crate::butane::translate(&source, &options)?;
    if args.strict && !translation.warnings.is_empty() {
        translation.warnings.promote_warnings();
        return Err(translation.warnings);
    }
    let mut json = if args.pretty {
        serde_json::to_string_pretty(&translation.config)
    } else {
        serde_json::to_string(&translation.config)
    }
    .map_err(|e| {
        Report::from(Diagnostic::error(
            "butane.output",
            format!("cannot serialize the config: {e}"),
            Location::Nowhere,
        ))
    })?;
    json.push('\n');
    let written = match &args.output {
        Some(path) => emit::write_named_output(path, json.as_bytes(), 0o600),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(json.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| stdout_error(&e))
        }
    };
    finish(translation.warnings, written, sink).map(|()| 0)
}

/// Prints each config's readable form; with several files, each under a `# FILE` line.
fn show(args: &ShowArgs) -> Result<i32, Report> {
    if args.files.iter().filter(|f| *f == Path::new("-")).count() > 1 {
        eprintln!("error: `-` (standard input) may be given only once");
        return Ok(2);
    }
    let mut out = String::new();
    for file in &args.files {
        let (name, text) = crate::validate::input::read(file)?;
        let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            let source = crate::diag::SourceFile::unquoted(&name, text.clone());
            Report::from(
                Diagnostic::at(
                    "show.json",
                    format!("not an Ignition config: {e}"),
                    &crate::diag::Span::new(&source, e.line() as u64, e.column() as u64),
                )
                .with_help(
                    "kindling show reads the JSON of an Ignition config (a rendered <node>.ign)",
                ),
            )
        })?;
        if args.files.len() > 1 {
            out.push_str(&format!("# {name}\n"));
        }
        out.push_str(&crate::show::render(&config));
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| stdout_error(&e))?;
    Ok(0)
}

fn export_profile(args: &ProfileExportArgs) -> Result<i32, Report> {
    let files = crate::profile::builtin_files(&args.name).ok_or_else(|| {
        Report::from(
            Diagnostic::error(
                "profile.unknown",
                format!("there is no built-in profile named {:?}", args.name),
                Location::Nowhere,
            )
            .with_help(format!(
                "built-in profiles: {}",
                crate::profile::builtin_names().join(", ")
            )),
        )
    })?;
    let occupied = std::fs::read_dir(&args.dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied || args.dir.is_file() {
        return Err(Diagnostic::error(
            "profile.export-exists",
            format!("{} exists and is not empty", args.dir.display()),
            Location::File(args.dir.clone()),
        )
        .with_help("export into a new directory; kindling does not overwrite a profile you may have changed")
        .into());
    }
    let outputs: Vec<Output> = files
        .into_iter()
        .map(|(file_name, bytes)| Output { file_name, bytes })
        .collect();
    emit::write_all(&args.dir, &outputs, 0o644)?;
    eprintln!(
        "wrote profile {} ({} files) to {}; use it with `profile: {}` in the spec, or --profiles",
        args.name,
        outputs.len(),
        args.dir.display(),
        args.dir.display()
    );
    Ok(0)
}

/// Terraform reads stdout only on success and shows stderr on failure: one line there.
fn terraform() -> i32 {
    // A query is a few short strings: stdin is read up to the spec limit, never to the end
    // of whatever is piped in.
    let answer = crate::read::bounded(std::io::stdin().lock(), crate::read::SPEC_LIMIT)
        .and_then(crate::read::utf8)
        .map_err(|e| {
            Report::from(Diagnostic::error(
                "terraform.stdin",
                format!("cannot read stdin: {e}"),
                Location::Nowhere,
            ))
        })
        .and_then(|query| emit::terraform::answer(&query));
    match answer {
        Ok(json) => match std::io::stdout().lock().write_all(json.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                eprint!("{}", stdout_error(&e).render_one_line());
                1
            }
        },
        Err(report) => {
            eprint!("{}", report.render_one_line());
            1
        }
    }
}

fn stdout_error(error: &std::io::Error) -> Report {
    Diagnostic::error(
        "io.stdout",
        format!("cannot write to standard output: {error}"),
        Location::Nowhere,
    )
    .into()
}
