//! `replay completions` and `replay man`: the shell conventions.

use crate::exit::Status;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::Write as _;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    shell: clap_complete::Shell,
}

/// Bash completes trace names from the trace root after the commands that
/// take a trace, besides the paths clap's script offers.
const BASH_TRACE_NAMES: &str = r#"
_replay_with_trace_names() {
    _replay "$@"
    local sub="${COMP_WORDS[1]}"
    case "$sub" in
        replay|info|debug|dump|stats|ps|analyze|diff|extract|export|pack|rm)
            local cur="${COMP_WORDS[COMP_CWORD]}"
            if [[ "$cur" != -* ]]; then
                local names
                names="$(replay ls --names 2>/dev/null)"
                COMPREPLY+=($(compgen -W "$names" -- "$cur"))
            fi
            ;;
    esac
}
complete -F _replay_with_trace_names -o bashdefault -o default replay
"#;

pub fn completions(args: CompletionsArgs) -> Result<Status> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut crate::Cli::command(),
        "replay",
        &mut script,
    );
    if args.shell == clap_complete::Shell::Bash {
        script.extend_from_slice(BASH_TRACE_NAMES.as_bytes());
    }
    std::io::stdout()
        .write_all(&script)
        .context("cannot write to stdout")?;
    Ok(Status::Code(0))
}

/// Writes the man page (roff) to stdout: `replay man > replay.1`.
pub fn man() -> Result<Status> {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::Cli::command())
        .render(&mut page)
        .context("cannot render the man page")?;
    std::io::stdout()
        .write_all(&page)
        .context("cannot write to stdout")?;
    Ok(Status::Code(0))
}
