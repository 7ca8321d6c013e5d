"""The monthly assessment: score, settlement coefficient, the assessment sheet."""
