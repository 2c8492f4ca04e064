//! Keys and mouse to actions: a pure function of (mode, input), so the
//! whole key map is unit-testable and listed once for the help overlay.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Mouse wheel: move the selection by several rows.
    Scroll(i32),
    SwitchPanel,
    Confirm,
    TogglePause,
    Slower,
    Faster,
    CycleSort,
    ToggleHelp,
    OpenFilter,
    Quit,
    Prompt(PromptKey),
    Resize(u16, u16),
    ToggleLab,
    ToggleDetails,
    ToggleLog,
    ToggleDiagram,
    ToggleClassroom,
    /// Play the next step of the demo.
    DemoNext,
    Lab(LabKey),
}

/// Lab keys: they act while the lab panel is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabKey {
    StartStop,
    Connect,
    ConnectMany,
    Target,
    AcceptOne,
    Send,
    Fill,
    ShutdownWrite,
    Close,
    Reset,
    ToggleRead,
    ToggleEcho,
    ToggleHold,
    ToggleAccept,
    Options,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKey {
    Char(char),
    Backspace,
    Clear,
    Submit,
    Cancel,
}

/// What the keyboard is talking to right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Prompt,
}

/// Rows one wheel notch moves.
pub const WHEEL_STEP: i32 = 3;

pub fn action_for(mode: Mode, event: &Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => key_action(mode, key),
        Event::Mouse(m) if mode == Mode::Normal => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Scroll(WHEEL_STEP)),
            MouseEventKind::ScrollUp => Some(Action::Scroll(-WHEEL_STEP)),
            _ => None,
        },
        Event::Resize(w, h) => Some(Action::Resize(*w, *h)),
        _ => None,
    }
}

fn key_action(mode: Mode, key: &KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match mode {
        Mode::Prompt => prompt_action(key, ctrl),
        Mode::Help => match key.code {
            KeyCode::Esc | KeyCode::Char('?' | 'q') => Some(Action::ToggleHelp),
            _ => None,
        },
        Mode::Normal => normal_action(key.code),
    }
}

fn prompt_action(key: &KeyEvent, ctrl: bool) -> Option<Action> {
    let k = match key.code {
        KeyCode::Char('u') if ctrl => PromptKey::Clear,
        KeyCode::Char(c) if !ctrl => PromptKey::Char(c),
        KeyCode::Backspace => PromptKey::Backspace,
        KeyCode::Enter => PromptKey::Submit,
        KeyCode::Esc => PromptKey::Cancel,
        _ => return None,
    };
    Some(Action::Prompt(k))
}

fn normal_action(code: KeyCode) -> Option<Action> {
    let action = match code {
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Top,
        KeyCode::End | KeyCode::Char('G') => Action::Bottom,
        KeyCode::Tab | KeyCode::BackTab => Action::SwitchPanel,
        KeyCode::Enter => Action::Confirm,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Char('+' | '=') => Action::Slower,
        KeyCode::Char('-' | '_') => Action::Faster,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('/') => Action::OpenFilter,
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('L') => Action::ToggleLab,
        KeyCode::Char('i') => Action::ToggleDetails,
        KeyCode::Char('e') => Action::ToggleLog,
        KeyCode::Char('d') => Action::ToggleDiagram,
        KeyCode::Char('P') => Action::ToggleClassroom,
        KeyCode::Char('n') => Action::DemoNext,
        code => return lab_key(code).map(Action::Lab),
    };
    Some(action)
}

fn lab_key(code: KeyCode) -> Option<LabKey> {
    let key = match code {
        KeyCode::Char('S') => LabKey::StartStop,
        KeyCode::Char('c') => LabKey::Connect,
        KeyCode::Char('C') => LabKey::ConnectMany,
        KeyCode::Char('T') => LabKey::Target,
        KeyCode::Char('a') => LabKey::AcceptOne,
        KeyCode::Char('t') => LabKey::Send,
        KeyCode::Char('f') => LabKey::Fill,
        KeyCode::Char('w') => LabKey::ShutdownWrite,
        KeyCode::Char('x') => LabKey::Close,
        KeyCode::Char('R') => LabKey::Reset,
        KeyCode::Char('r') => LabKey::ToggleRead,
        KeyCode::Char('E') => LabKey::ToggleEcho,
        KeyCode::Char('h') => LabKey::ToggleHold,
        KeyCode::Char('m') => LabKey::ToggleAccept,
        KeyCode::Char('O') => LabKey::Options,
        _ => return None,
    };
    Some(key)
}

/// Every key, for the help overlay and the README: (keys, what they do).
pub const KEY_HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move in the focused panel"),
    ("PgUp PgDn", "one page"),
    ("g G  Home End", "first / last row"),
    ("mouse wheel", "scroll"),
    ("Tab", "next panel: groups/table/lab"),
    ("Enter  i", "details: timeline, tcp_info"),
    ("e", "transition log"),
    ("d", "state diagram"),
    ("P", "presentation mode"),
    ("/", "filter: 8080, state X, addr…"),
    ("space", "pause view; polling goes on"),
    ("+ -", "poll less / more often"),
    ("s", "cycle the sort column"),
    ("?", "this help"),
    ("q  Esc  Ctrl-C", "quit"),
];

/// The lab's keys; stable once documented.
pub const LAB_KEY_HELP: &[(&str, &str)] = &[
    ("L", "show / hide the lab panel"),
    ("S", "start / stop the server: listen() / close()"),
    ("c  C", "connect one / N clients: connect()"),
    ("T", "set where clients connect (host:port)"),
    ("a", "accept() one waiting connection"),
    ("m", "accept mode: auto / manual"),
    ("t  f", "send() text / until the window is full"),
    ("w", "shutdown(SHUT_WR) the selected socket"),
    ("x", "close() the selected socket"),
    ("R", "reset: SO_LINGER 0 + close() sends RST"),
    ("r  E", "selected socket: reading / echo on-off"),
    ("h", "hold: keep our end open when the peer closes"),
    ("O", "options: backlog, reuseaddr, buffers…"),
    ("n  r", "demo: next step / restart"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyEvent, MouseEvent};

    fn key(code: KeyCode) -> Event {
        Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn normal_keys() {
        assert_eq!(
            action_for(Mode::Normal, &key(KeyCode::Char('j'))),
            Some(Action::Down)
        );
        assert_eq!(
            action_for(Mode::Normal, &key(KeyCode::Char(' '))),
            Some(Action::TogglePause)
        );
        assert_eq!(
            action_for(Mode::Normal, &key(KeyCode::Esc)),
            Some(Action::Quit)
        );
        assert_eq!(action_for(Mode::Normal, &key(KeyCode::Char('z'))), None);
    }

    #[test]
    fn ctrl_c_quits_in_every_mode() {
        let ev = Event::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        for mode in [Mode::Normal, Mode::Help, Mode::Prompt] {
            assert_eq!(action_for(mode, &ev), Some(Action::Quit));
        }
    }

    #[test]
    fn prompt_takes_letters_that_are_keys_elsewhere() {
        assert_eq!(
            action_for(Mode::Prompt, &key(KeyCode::Char('q'))),
            Some(Action::Prompt(PromptKey::Char('q')))
        );
        assert_eq!(
            action_for(Mode::Prompt, &key(KeyCode::Esc)),
            Some(Action::Prompt(PromptKey::Cancel))
        );
    }

    #[test]
    fn help_closes_on_q_instead_of_quitting() {
        assert_eq!(
            action_for(Mode::Help, &key(KeyCode::Char('q'))),
            Some(Action::ToggleHelp)
        );
        assert_eq!(action_for(Mode::Help, &key(KeyCode::Char('j'))), None);
    }

    #[test]
    fn wheel_scrolls() {
        let ev = Event::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        });
        assert_eq!(
            action_for(Mode::Normal, &ev),
            Some(Action::Scroll(WHEEL_STEP))
        );
    }
}
