"""Key-project budgets (重点项目预算): projects, budget lines and their versions, changes, expenditures, warnings."""

from .projects import (
                       CATEGORIES,
                       CHANGE_KINDS,
                       CHANGE_STATES,
                       PROJECT_STATES,
                       BudgetChange,
                       BudgetLine,
                       BudgetProject,
                       BudgetVersion,
                       BudgetVersionLine,
)
from .spending import (
    EXPENDITURE_STATES,
    WARNING_KINDS,
    BudgetGeneration,
    BudgetWarning,
    Expenditure,
    SpendingMonth,
)

__all__ = ["CATEGORIES", "CHANGE_KINDS", "CHANGE_STATES", "EXPENDITURE_STATES", "PROJECT_STATES", "WARNING_KINDS",
           "BudgetChange", "BudgetGeneration", "BudgetLine", "BudgetProject", "BudgetVersion", "BudgetVersionLine",
           "BudgetWarning", "Expenditure", "SpendingMonth"]
