"""Capability pages (能力展示): what a person and a department may do, from qualifications and privileges;
"who may perform this entry" and "what may this person perform" for the catalogue; the capability reports."""
