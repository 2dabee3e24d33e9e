//! gdb's `monitor` commands: positions, checkpoints, snapshots.

use super::ReplayTarget;
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd};

impl MonitorCmd for ReplayTarget {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        let cmd = String::from_utf8_lossy(cmd);
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            ["when"] => {
                let position = self.timeline.session.position();
                gdbstub::outputln!(out, "Current event: {position}");
            }
            ["when-end"] => {
                let position = self.timeline.session.position();
                let reader = self.timeline.session.reader();
                let total = match reader.manifest().totals.as_ref() {
                    Some(totals) => Some(totals.events),
                    None => reader.scan().ok().map(|scan| scan.events),
                };
                match total {
                    Some(total) => gdbstub::outputln!(
                        out,
                        "Last event: {}; current event: {position}",
                        total.saturating_sub(1)
                    ),
                    None => gdbstub::outputln!(out, "the recording's length is unknown"),
                }
            }
            ["checkpoint"] => {
                let path = self.timeline.checkpoint();
                self.checkpoints.push(path);
                let id = self.checkpoints.len();
                let at = self.timeline.session.position();
                gdbstub::outputln!(out, "Checkpoint {id} at event {at}");
            }
            ["restart", n] => {
                // Another position: what gdb changed in a diversion is gone.
                if let Some(diversion) = self.diversion.take() {
                    diversion.end();
                }
                let saved = n
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| self.checkpoints.get(i))
                    .cloned();
                match saved {
                    Some(path) => {
                        self.timeline.restore(path)?;
                        let at = self.timeline.session.position();
                        gdbstub::outputln!(out, "Restarted at checkpoint {n} (event {at}); gdb's frame view refreshes on the next stepi or continue");
                    }
                    None => {
                        gdbstub::outputln!(
                            out,
                            "no checkpoint {n}; `monitor checkpoint` makes one"
                        );
                    }
                }
            }
            ["snapshots"] => {
                let (count, interval) = self.timeline.snapshot_summary();
                gdbstub::outputln!(out, "{count}");
                gdbstub::outputln!(out, "{interval}");
            }
            ["help"] | [] => {
                gdbstub::outputln!(out, "monitor when          print the current event number");
                gdbstub::outputln!(
                    out,
                    "monitor when-end      print the recording's last event number"
                );
                gdbstub::outputln!(out, "monitor checkpoint    remember this point");
                gdbstub::outputln!(
                    out,
                    "monitor restart N     go back (or forward) to checkpoint N"
                );
                gdbstub::outputln!(
                    out,
                    "monitor snapshots     how many snapshots reverse execution keeps, and how often"
                );
            }
            _ => {
                gdbstub::outputln!(out, "unknown monitor command {cmd:?}; try `monitor help`");
            }
        }
        Ok(())
    }
}
