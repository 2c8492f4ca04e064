//! Colours per TCP state, and a plain theme for NO_COLOR.

use crate::socket::TcpState;
use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    /// Presentation mode: bright colours and bold labels, for a projector.
    pub contrast: bool,
}

impl Theme {
    /// Colour unless NO_COLOR is set to anything non-empty (no-color.org).
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme {
            color: !no_color,
            contrast: false,
        }
    }

    pub fn state(&self, state: TcpState) -> Style {
        let base = if self.contrast {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        if !self.color {
            return base;
        }
        base.fg(state_color(state, self.contrast))
    }

    /// A coloured chip for the header: the state's colour as background.
    pub fn chip(&self, state: TcpState, count: usize) -> Style {
        if !self.color {
            let base = Style::default().add_modifier(Modifier::BOLD);
            return if count == 0 { Style::default() } else { base };
        }
        if count == 0 {
            return Style::default().fg(Color::DarkGray);
        }
        Style::default()
            .fg(Color::Black)
            .bg(state_color(state, self.contrast))
            .add_modifier(Modifier::BOLD)
    }

    pub fn appeared(&self) -> Style {
        self.flash(Color::Green)
    }

    pub fn changed(&self) -> Style {
        self.flash(Color::Yellow)
    }

    pub fn gone(&self) -> Style {
        let s = Style::default().add_modifier(Modifier::DIM | Modifier::CROSSED_OUT);
        if self.color { s.fg(Color::DarkGray) } else { s }
    }

    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn heading(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    pub fn error(&self) -> Style {
        let s = Style::default().add_modifier(Modifier::BOLD);
        if self.color { s.fg(Color::Red) } else { s }
    }

    pub fn warning(&self) -> Style {
        let s = Style::default().add_modifier(Modifier::BOLD);
        if self.color { s.fg(Color::Yellow) } else { s }
    }

    pub fn focus_border(&self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::default().fg(Color::Cyan),
            (true, false) => Style::default().add_modifier(Modifier::BOLD),
            (false, _) => self.dim(),
        }
    }

    fn flash(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(color)
        } else {
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }
}

fn state_color(state: TcpState, bright: bool) -> Color {
    if bright {
        return bright_color(state);
    }
    match state {
        TcpState::Listen => Color::Blue,
        TcpState::SynSent | TcpState::SynRecv => Color::Yellow,
        TcpState::Established => Color::Green,
        TcpState::FinWait1 | TcpState::FinWait2 => Color::Magenta,
        // CLOSE_WAIT is where leaks pile up: make it stand out.
        TcpState::CloseWait => Color::Red,
        TcpState::Closing | TcpState::LastAck => Color::LightMagenta,
        TcpState::TimeWait => Color::Cyan,
        TcpState::Closed => Color::Gray,
    }
}

/// The projector palette: the light variants, which survive washed-out
/// screens.
fn bright_color(state: TcpState) -> Color {
    match state {
        TcpState::Listen => Color::LightBlue,
        TcpState::SynSent | TcpState::SynRecv => Color::LightYellow,
        TcpState::Established => Color::LightGreen,
        TcpState::FinWait1 | TcpState::FinWait2 => Color::LightMagenta,
        TcpState::CloseWait => Color::LightRed,
        TcpState::Closing | TcpState::LastAck => Color::Magenta,
        TcpState::TimeWait => Color::LightCyan,
        TcpState::Closed => Color::White,
    }
}
