//! `kernelArguments` (spec 3.3.0 on): each argument listed once, and never both required
//! and forbidden.

use std::collections::HashSet;

use serde_json::Value;

use super::duplicate;
use crate::diag::Diagnostic;
use crate::validate::array;

const CODE: &str = "ign.kernel-args";

pub fn check(config: &Value, findings: &mut Vec<Diagnostic>) {
    let mut required = HashSet::new();
    for (index, argument) in array(config, "/kernelArguments/shouldExist")
        .iter()
        .enumerate()
    {
        if !required.insert(argument.as_str().unwrap_or_default()) {
            findings.push(duplicate(
                CODE,
                format!("$.kernelArguments.shouldExist.{index}"),
                "kernel argument",
            ));
        }
    }
    let mut forbidden = HashSet::new();
    for (index, argument) in array(config, "/kernelArguments/shouldNotExist")
        .iter()
        .enumerate()
    {
        let argument = argument.as_str().unwrap_or_default();
        if !forbidden.insert(argument) || required.contains(argument) {
            findings.push(duplicate(
                CODE,
                format!("$.kernelArguments.shouldNotExist.{index}"),
                "kernel argument (also required, or listed twice)",
            ));
        }
    }
}
