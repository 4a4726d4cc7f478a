//! Whether a benchmarked command runs through a shell.
//!
//! hyperfine runs every command with `sh -c` and subtracts an estimate of the shell's start-up
//! from each time. perfkit by default starts a shell only for a command that needs one (shell
//! syntax, a builtin), so the others are timed without a shell at all, and nothing is
//! subtracted from those that do.

use crate::SysError;

/// How command texts are run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Shell {
    /// Through `sh -c` only when the text needs a shell ([`needs_shell`]); otherwise split
    /// into words as a shell would and started directly.
    #[default]
    Auto,
    /// Never through a shell (`-N`, `--shell=none`): split into words and started directly.
    None,
    /// Always through this shell: its program and arguments, then `-c` and the text.
    Program(Vec<String>),
}

impl Shell {
    /// hyperfine's `--shell` value: `none`, `default` (that is `sh`), or a shell's name, path
    /// or command line (`bash --norc`).
    ///
    /// # Errors
    /// [`SysError::InvalidPlan`] for an empty value or one with unbalanced quotes.
    pub fn parse(value: &str) -> Result<Shell, SysError> {
        let invalid = |detail: String| SysError::InvalidPlan { detail };
        match value.trim() {
            "none" => Ok(Shell::None),
            "default" => Ok(Shell::Program(vec!["sh".to_owned()])),
            "" => Err(invalid(
                "--shell needs a shell: a name (bash), a path, a command line (\"bash --norc\"), default or none".to_owned(),
            )),
            text => match shlex::split(text) {
                Some(words) if !words.is_empty() => Ok(Shell::Program(words)),
                _ => Err(invalid(format!(
                    "--shell '{value}' has unbalanced quotes"
                ))),
            },
        }
    }

    /// How helper commands (setup, prepare, conclude, cleanup) run: as the commands do, but
    /// through sh when the commands run without a shell (hyperfine 2 does the same).
    #[must_use]
    pub fn for_helpers(&self) -> Shell {
        match self {
            Shell::None => Shell::Program(vec!["sh".to_owned()]),
            other => other.clone(),
        }
    }

    /// The program and arguments that run `text`.
    ///
    /// # Errors
    /// [`SysError::EmptyCommand`] for a blank text, [`SysError::BadQuoting`] for a text split
    /// into words whose quotes do not balance.
    pub fn argv(&self, text: &str) -> Result<Vec<String>, SysError> {
        if text.trim().is_empty() {
            return Err(SysError::EmptyCommand);
        }
        let through = |shell: &[String]| {
            let mut argv = shell.to_vec();
            argv.extend(["-c".to_owned(), text.to_owned()]);
            argv
        };
        match self {
            Shell::Program(shell) => Ok(through(shell)),
            Shell::Auto if needs_shell(text) => Ok(through(&["sh".to_owned()])),
            Shell::Auto | Shell::None => match shlex::split(text) {
                Some(words) if !words.is_empty() => Ok(words),
                Some(_) => Err(SysError::EmptyCommand),
                None => Err(SysError::BadQuoting {
                    text: text.to_owned(),
                }),
            },
        }
    }
}

/// Programs that are shells, by name: the first word of hyperfine 1's `-S SHELL`.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "oksh", "loksh", "yash", "posh", "fish",
    "tcsh", "csh", "pwsh", "nu", "elvish", "xonsh", "busybox", "rc", "es",
];

/// Whether `value` names a shell (`bash`, `/bin/zsh -f`, `default`, `none`) rather than a
/// command: hyperfine 1's `-S` took a shell, hyperfine 2's `-S` takes none and the word after
/// it is the first command.
#[must_use]
pub fn names_a_shell(value: &str) -> bool {
    let first = shlex::split(value)
        .and_then(|words| words.into_iter().next())
        .unwrap_or_default();
    let name = first.rsplit('/').next().unwrap_or_default();
    matches!(value.trim(), "default" | "none") || SHELLS.contains(&name)
}

/// Words a shell takes as its own (keywords and builtins that have no program of their name).
const SHELL_WORDS: &[&str] = &[
    "!", ".", ":", "[[", "{", "alias", "bg", "break", "case", "cd", "command", "continue",
    "declare", "eval", "exec", "exit", "export", "fg", "for", "function", "getopts", "hash", "if",
    "jobs", "let", "local", "read", "readonly", "return", "select", "set", "shift", "source",
    "time", "times", "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until",
    "wait", "while",
];

/// Whether `text` means something different to a shell than its words do to a program:
/// operators, redirections, expansions (`$`, backquotes, globs, `~`), comments, a variable
/// assignment before the command, or a first word that is a shell keyword or builtin.
/// Quoted text is literal, except `$` and backquotes inside double quotes.
#[must_use]
pub fn needs_shell(text: &str) -> bool {
    let mut chars = text.chars();
    let (mut single, mut double) = (false, false);
    let mut word_start = true;
    let mut first_word = String::new();
    let mut in_first_word = true;
    while let Some(c) = chars.next() {
        if single {
            single = c != '\'';
            continue;
        }
        if double {
            match c {
                '"' => double = false,
                '\\' => {
                    chars.next();
                }
                '$' | '`' => return true,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            if c == '\n' {
                return true;
            }
            in_first_word &= first_word.is_empty();
            word_start = true;
            continue;
        }
        match c {
            '\'' => single = true,
            '"' => double = true,
            '\\' => {
                chars.next();
            }
            // A command starting with `[` is the test program; `[[` is the shell's.
            '[' if in_first_word && first_word.is_empty() => {}
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' => return true,
            '~' | '#' if word_start => return true,
            '=' if in_first_word => return true,
            _ => {}
        }
        if in_first_word {
            first_word.push(c);
        }
        word_start = false;
    }
    SHELL_WORDS.contains(&first_word.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_commands_run_directly_and_shell_syntax_through_sh() {
        for plain in [
            "true",
            "sleep 0.1",
            "grep -c 'a | b' file.txt",
            "rg -F \"x\" .",
            "echo a#b x=1",
            "make -j{4}",
            "[ -e /tmp ]",
            "echo 'it''s'",
            r"echo a\;b",
            "/usr/bin/env FOO=1 prog",
        ] {
            assert!(!needs_shell(plain), "{plain}");
        }
        for shell in [
            "ls | wc -l",
            "sleep 0.1 && echo done",
            "echo a; echo b",
            "echo x > out",
            "sort < in",
            "echo $HOME",
            "echo \"$HOME\"",
            "echo `date`",
            "echo $(date)",
            "ls *.txt",
            "cat ~/f",
            "FOO=1 prog",
            "cd /tmp",
            "exit 3",
            "for i in 1 2; do :; done",
            "(sleep 1)",
            "sleep 1 &",
            "echo a # comment",
            "[[ -e /tmp ]]",
            "true\nfalse",
        ] {
            assert!(needs_shell(shell), "{shell}");
        }
    }

    #[test]
    fn shells_are_told_from_commands() {
        for shell in [
            "bash",
            "/bin/zsh -f",
            "bash --norc",
            "default",
            "none",
            "sh",
        ] {
            assert!(names_a_shell(shell), "{shell}");
        }
        for command in ["sleep 1", "./bash-script", "make -j4", "", "'unbalanced"] {
            assert!(!names_a_shell(command), "{command}");
        }
    }

    #[test]
    fn the_shell_flag_reads_as_hyperfines() {
        assert_eq!(Shell::parse("none").unwrap(), Shell::None);
        assert_eq!(
            Shell::parse("default").unwrap(),
            Shell::Program(vec!["sh".into()])
        );
        assert_eq!(
            Shell::parse("bash --norc").unwrap(),
            Shell::Program(vec!["bash".into(), "--norc".into()])
        );
        assert!(Shell::parse(" ").is_err());
        assert!(Shell::parse("bash '").is_err());
        assert_eq!(
            Shell::parse("zsh").unwrap().argv("echo hi").unwrap(),
            ["zsh", "-c", "echo hi"]
        );
        assert_eq!(
            Shell::Auto.argv("ls | wc").unwrap(),
            ["sh", "-c", "ls | wc"]
        );
        assert_eq!(
            Shell::Auto.argv("grep 'a b' f").unwrap(),
            ["grep", "a b", "f"]
        );
        assert_eq!(Shell::None.argv("ls | wc").unwrap(), ["ls", "|", "wc"]);
        assert!(matches!(
            Shell::None.argv("  "),
            Err(SysError::EmptyCommand)
        ));
        assert!(matches!(
            Shell::Auto.argv("echo 'x"),
            Err(SysError::BadQuoting { .. })
        ));
    }
}
