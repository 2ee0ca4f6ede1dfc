//! Tests against other countries' eHDSI documents and simulated foreign NCPs.
