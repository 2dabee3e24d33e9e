//! The `manifest` file: what was recorded, on which machine, and whether the
//! recording finished.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, TraceError};
use crate::machine::MachineInfo;
use crate::FORMAT_VERSION;

pub const MANIFEST_NAME: &str = "manifest";
const MANIFEST_TMP_NAME: &str = "manifest.trace-tmp";
/// Far above any real manifest (a chunk entry is ~200 bytes), so a damaged
/// or hostile file cannot make the reader allocate without bound.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Top-level JSON document of a trace directory.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    /// Version of the `replay` build that wrote the trace.
    pub tool_version: String,
    /// False while recording and after a crash; the streams may then end in
    /// a partial chunk.
    pub complete: bool,
    pub header: TraceHeader,
    pub outcome: Option<TraceOutcome>,
    pub totals: Option<TraceSummary>,
}

/// What was recorded, known before the first event.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TraceHeader {
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub start_unix_ns: u64,
    pub machine: MachineInfo,
    /// How positions in user code are named (see [`TICKS_STATE_MATCH`]), so
    /// a replayer refuses a trace it cannot position.
    pub tick_semantics: String,
    /// The hardware branch counter the recording machine offered, if any
    /// (informational: positions never depend on it today).
    #[serde(default)]
    pub pmu: Option<String>,
    /// The CPU the recording ran on. Replay runs there too when it can:
    /// CPUID (which no machine here can trap) reports the executing CPU's
    /// APIC id, and a program that keeps it in a register or memory only
    /// replays exactly on the same CPU. None in older traces.
    #[serde(default)]
    pub cpu: Option<u32>,
    /// Every CPUID the program executed faulted (`arch_prctl(ARCH_SET_CPUID,
    /// 0)`) and was answered from `machine.cpuid`, so a replay answers the
    /// same on any CPU that has the features that table reports. False in
    /// older traces and where the kernel or CPU offered no faulting: the
    /// program then read the recording CPU itself.
    #[serde(default)]
    pub cpuid_faulting: bool,
    /// Features cleared from that table (`record --hide-cpu-feature`).
    #[serde(default)]
    pub hidden_cpu_features: Vec<String>,
}

impl TraceHeader {
    /// The syscall buffer's library, as the recorder's own `LD_PRELOAD`
    /// entry (the last one) names it; `None` for a recording made without
    /// the buffer.
    pub fn preload_library(&self) -> Option<&str> {
        let (key, value) = self.env.iter().rev().find(|(key, _)| key == "LD_PRELOAD")?;
        let entry = format!("{key}={value}");
        let library = syscallbuf::environment::recorders_library(entry.as_bytes())?;
        // The library is the start of the value, so it is valid UTF-8 there.
        value.get(..library.len())
    }
}

/// Events happen only at anchors; no position inside user code is logged.
/// Traces written before preemption existed say this.
pub const TICKS_ANCHORS: &str = "anchors";

/// Anchors, plus preemption points named by the full register and memory
/// state there (no PMU). Every x86_64 machine with the same CPU features
/// can reproduce these.
pub const TICKS_STATE_MATCH: &str = "anchors+state-match";

/// Whether this version of replay can position the events of a trace whose
/// header says `semantics`; the error says why not.
pub fn check_tick_semantics(semantics: &str) -> Result<(), String> {
    match semantics {
        TICKS_ANCHORS | TICKS_STATE_MATCH => Ok(()),
        other => Err(format!(
            "the trace positions events with \"{other}\", which this version of replay \
             cannot reproduce (it knows \"{TICKS_ANCHORS}\" and \"{TICKS_STATE_MATCH}\"); \
             replay it with the version of replay that recorded it"
        )),
    }
}

/// How the recorded program ended.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum TraceOutcome {
    Exited { code: i32 },
    Signaled { signal: i32, core_dumped: bool },
    Interrupted { reason: String },
}

/// Totals written by `finish`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TraceSummary {
    pub events: u64,
    /// Total bytes of the logical `data` stream (uncompressed).
    pub data_bytes: u64,
    /// The initial process plus every `TaskStart { thread: false }`.
    pub processes: u64,
    /// Every task: the initial one plus every `TaskStart`, threads and
    /// processes alike.
    pub threads: u64,
    /// `time_ns` of the last event.
    pub duration_ns: u64,
    pub chunks: Vec<ChunkInfo>,
    /// The recorder's own peak resident memory in KiB, not its tracees'
    /// (0 in traces from before it was kept).
    #[serde(default)]
    pub recorder_peak_kib: u64,
}

/// Where one chunk lies, so tools can check or seek without scanning.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ChunkInfo {
    /// `events` or `data`.
    pub stream: String,
    pub seq: u64,
    /// Byte offset of the chunk header in the stream file.
    pub offset: u64,
    pub compressed_len: u64,
    pub uncompressed_len: u64,
    /// Lowercase hex sha256 of the compressed bytes.
    pub sha256: String,
}

impl Manifest {
    pub fn new(header: TraceHeader) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            complete: false,
            header,
            outcome: None,
            totals: None,
        }
    }

    /// Reads and validates `dir/manifest`. The version is checked on the raw
    /// JSON first, so that a newer trace whose fields changed is reported as
    /// "upgrade replay" rather than as damage.
    pub fn load(dir: &Path) -> Result<Manifest, TraceError> {
        let path = dir.join(MANIFEST_NAME);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TraceError::ManifestMissing {
                    dir: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(TraceError::io(path, e)),
        };
        let invalid = |detail: String| TraceError::ManifestInvalid {
            dir: dir.to_path_buf(),
            detail,
        };
        let mut text = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut text)
            .at(&path)?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(invalid(format!(
                "larger than the limit of {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| invalid("no numeric format_version field".into()))?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(TraceError::UnsupportedVersion {
                found: u32::try_from(version).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(invalid("format_version is 0".into()));
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }

    /// Writes `dir/manifest` through a temporary file and a rename, so a
    /// reader (or the recorder dying) never sees half a manifest. No fsync:
    /// see decision 0010.
    pub(crate) fn store(&self, dir: &Path) -> Result<(), TraceError> {
        let tmp = dir.join(MANIFEST_TMP_NAME);
        let path = dir.join(MANIFEST_NAME);
        // Compact: pretty-printing doubled it (the CPUID table alone is a
        // few hundred objects), 4% of what `ls -lR` records; `replay info`
        // and `jq` show it readably.
        let mut text = serde_json::to_vec(self).map_err(|e| TraceError::WriterFailed {
            detail: format!("cannot encode the manifest: {e}"),
        })?;
        text.push(b'\n');
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .at(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .at(&tmp)?;
        f.write_all(&text).at(&tmp)?;
        drop(f);
        fs::rename(&tmp, &path).at(&path)?;
        Ok(())
    }
}
