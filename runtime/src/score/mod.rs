//! The stability score per function and per (function, branch), and its reports.
